// examples/server/batcher.ts: when batches run, what each caller gets, the bound, the drain.
import * as assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Batcher, BatcherClosedError, QueueFullError } from '../../examples/server/batcher';

/** A batcher whose run() records each batch and answers each item with item * 10 after `ms`. */
function recording(opts: { maxBatch: number; maxWaitMs: number; maxQueue: number; ms?: number; fail?: boolean }) {
  const batches: number[][] = [];
  let concurrent = 0, maxConcurrent = 0;
  const batcher = new Batcher<number, number>({
    ...opts,
    run: async (items) => {
      batches.push(items);
      maxConcurrent = Math.max(maxConcurrent, ++concurrent);
      await sleep(opts.ms ?? 0);
      concurrent--;
      if (opts.fail) throw new Error('forward failed');
      return items.map((x) => x * 10);
    },
  });
  return { batcher, batches, maxConcurrent: () => maxConcurrent };
}

const ready = (x: number) => () => Promise.resolve(x);

describe('server: the dynamic batcher', () => {
  it('runs a batch as soon as max-batch items are ready, and each caller gets its own result', async () => {
    const { batcher, batches } = recording({ maxBatch: 3, maxWaitMs: 10000, maxQueue: 10 });
    const t0 = performance.now();
    const answers = await Promise.all([1, 2, 3].map((x) => batcher.submit(ready(x))));
    assert.deepEqual(answers, [10, 20, 30]);
    assert.deepEqual(batches, [[1, 2, 3]]);
    assert.ok(performance.now() - t0 < 1000, 'did not wait for max-wait-ms');
  });

  it('runs fewer than max-batch once max-wait-ms has passed since the first was ready', async () => {
    const { batcher, batches } = recording({ maxBatch: 8, maxWaitMs: 60, maxQueue: 10 });
    const t0 = performance.now();
    const first = batcher.submit(ready(1));
    await sleep(20);
    const second = batcher.submit(ready(2));
    assert.deepEqual(await Promise.all([first, second]), [10, 20]);
    const waited = performance.now() - t0;
    assert.deepEqual(batches, [[1, 2]]);
    assert.ok(waited >= 55 && waited < 1000, `waited ${waited} ms`);
  });

  it('runs one batch at a time; what arrives meanwhile forms the next batch, up to max-batch', async () => {
    const { batcher, batches, maxConcurrent } = recording({ maxBatch: 4, maxWaitMs: 0, maxQueue: 20, ms: 30 });
    const first = batcher.submit(ready(0));
    await sleep(5);
    const rest = Array.from({ length: 6 }, (_, i) => batcher.submit(ready(i + 1)));
    assert.deepEqual(await Promise.all([first, ...rest]), [0, 10, 20, 30, 40, 50, 60]);
    assert.equal(maxConcurrent(), 1);
    assert.deepEqual(batches, [[0], [1, 2, 3, 4], [5, 6]]);
    assert.deepEqual({ batches: batcher.stats.batches, items: batcher.stats.items }, { batches: 3, items: 7 });
  });

  it('is bounded: items being prepared or waiting count, and one more is refused at once', async () => {
    const { batcher } = recording({ maxBatch: 8, maxWaitMs: 50, maxQueue: 2 });
    let release!: () => void;
    const slow = batcher.submit(() => new Promise<number>((resolve) => { release = () => resolve(7); }));
    const quick = batcher.submit(ready(1));
    assert.equal(batcher.depth, 2);
    assert.throws(() => batcher.submit(ready(2)), (e: unknown) => e instanceof QueueFullError && /the queue is full \(2 requests waiting\)/.test(e.message));
    release();
    assert.deepEqual(await Promise.all([slow, quick]), [70, 10]);
    assert.equal(batcher.depth, 0);
    assert.equal(await batcher.submit(ready(3)), 30);
  });

  it('a failed preparation rejects only its caller; a failed run rejects its whole batch', async () => {
    const { batcher, batches } = recording({ maxBatch: 2, maxWaitMs: 20, maxQueue: 4 });
    const bad = batcher.submit(() => Promise.reject(new Error('not an image')));
    const good = batcher.submit(ready(5));
    await assert.rejects(bad, /not an image/);
    assert.equal(await good, 50);
    assert.deepEqual(batches, [[5]]);
    const failing = recording({ maxBatch: 2, maxWaitMs: 0, maxQueue: 4, fail: true }).batcher;
    const results = await Promise.allSettled([failing.submit(ready(1)), failing.submit(ready(2))]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
    assert.equal(failing.depth + failing.inFlight, 0);
  });

  it('close() refuses new items, runs what is queued without waiting max-wait-ms, and resolves when all are answered', async () => {
    const { batcher, batches } = recording({ maxBatch: 8, maxWaitMs: 10000, maxQueue: 10, ms: 20 });
    const answers = [1, 2, 3].map((x) => batcher.submit(ready(x)));
    await sleep(5);
    let answered = 0;
    answers.forEach((a) => a.then(() => answered++));
    const t0 = performance.now();
    await batcher.close();
    assert.equal(answered, 3);
    assert.ok(performance.now() - t0 < 1000);
    assert.deepEqual(batches, [[1, 2, 3]]);
    assert.throws(() => batcher.submit(ready(4)), BatcherClosedError);
    await batcher.close();
  });

  it('bad settings are refused', () => {
    const run = async (x: number[]) => x;
    assert.throws(() => new Batcher({ maxBatch: 0, maxWaitMs: 1, maxQueue: 1, run }), /Batcher: maxBatch must be a positive integer, got 0/);
    assert.throws(() => new Batcher({ maxBatch: 1, maxWaitMs: -1, maxQueue: 1, run }), /Batcher: maxWaitMs must be 0 or more, got -1/);
    assert.throws(() => new Batcher({ maxBatch: 1, maxWaitMs: 1, maxQueue: 1.5, run }), /Batcher: maxQueue must be a positive integer, got 1.5/);
  });
});
