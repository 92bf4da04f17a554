// The CPU backend's queue (native/cpu/cpu_stream.cc, queued_backend.cc): ops return at once
// and run in order on a thread of their own; reads wait for them; memory freed while work is
// queued outlives that work; the event loop keeps turning during a model's forward.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { add, cpu, createModel, tensor, matmul, randn, Tensor, tidy } from '../ts/index';
import { assertClose, host } from './helpers';

// A float64 product of row-major [m, k] and [k, n] host matrices.
function reference(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let p = 0; p < k; p++) {
      const x = a[i * k + p];
      for (let j = 0; j < n; j++) c[i * n + j] += x * b[p * n + j];
    }
  return c;
}

// Enough work (2 x 512^3 FLOPs per product, several products) to keep the queue busy for
// many milliseconds on any machine, so that "returned before it ran" is never a race.
function busyWork(seed: number): Tensor {
  return tidy(() => {
    const a = randn([512, 512], { seed });
    let y = a;
    for (let i = 0; i < 6; i++) y = matmul(y, a);
    return y;
  });
}

describe('cpu queue', () => {
  before(function () {
    // The queue is off in a process started with NODEFORMERS_CPU_QUEUE=0 (the last test runs one).
    if (process.env.NODEFORMERS_CPU_QUEUE === '0') this.skip();
  });
  afterEach(() => cpu.synchronize());

  it('an op returns before it has run; synchronize waits for it and the queue is idle after', () => {
    cpu.synchronize();
    assert.equal(cpu.idle(), true);
    const y = busyWork(1);
    assert.equal(cpu.idle(), false, 'six 512^3 products ran inside the call: the op did not queue');
    cpu.synchronize();
    assert.equal(cpu.idle(), true);
    y.dispose();
  });

  it('await data() waits for the queued ops without blocking the event loop, and gives their result', async () => {
    const a = randn([96, 80], { seed: 2 });
    const b = randn([80, 72], { seed: 3 });
    const expected = reference(host(a), host(b), 96, 80, 72);
    const busy = busyWork(4);
    const c = matmul(a, b);
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 0);
    const values = await c.data();
    clearInterval(timer);
    assertClose(values as Float32Array, expected, 1e-5);
    assert.ok(ticks > 0, 'no timer ran while the read waited: the read blocked the event loop');
    for (const t of [a, b, c, busy]) t.dispose();
  });

  it('dataSync() blocks until the queued ops have run', () => {
    const a = randn([64, 48], { seed: 5 });
    const b = randn([48, 40], { seed: 6 });
    const busy = busyWork(7);
    const c = matmul(a, b);
    assertClose(c.dataSync() as Float32Array, reference(host(a), host(b), 64, 48, 40), 1e-5);
    for (const t of [a, b, c, busy]) t.dispose();
  });

  it('inputs disposed while their op is queued are freed after it runs (the result is intact)', () => {
    const aHost = new Float32Array(128 * 96).map((_, i) => Math.sin(i));
    const bHost = new Float32Array(96 * 64).map((_, i) => Math.cos(i * 0.7));
    const busy = busyWork(8);
    const a = tensor(aHost, [128, 96]);
    const b = tensor(bHost, [96, 64]);
    const c = matmul(a, b);
    a.dispose();
    b.dispose();
    busy.dispose();
    assertClose(host(c), reference(aHost, bHost, 128, 96, 64), 1e-5);
    c.dispose();
  });

  it('a tensor made from host values while the queue is busy holds those values, even if the array changes after', () => {
    const busy = busyWork(9);
    const values = new Float32Array(1000).map((_, i) => i * 0.5);
    const t = tensor(values, [1000]);
    values.fill(-1); // the caller's array may be reused as soon as tensor returns
    const doubled = add(t, t);
    assert.deepEqual(Array.from(host(doubled)), Array.from({ length: 1000 }, (_, i) => i));
    for (const x of [busy, t, doubled]) x.dispose();
  });

  it('ops from interleaved async functions run in call order, each reading what the one before wrote', async () => {
    const chains = await Promise.all([0, 1, 2, 3].map(async (c) => {
      let x = tensor(new Float32Array([c]), [1]);
      for (let i = 0; i < 50; i++) {
        const next = add(x, tensor(new Float32Array([1]), [1]));
        x.dispose();
        x = next;
        if (i % 10 === 0) await new Promise((r) => setImmediate(r));
      }
      const v = (await x.data())[0];
      x.dispose();
      return v;
    }));
    assert.deepEqual(chains, [50, 51, 52, 53]);
  });

  it('the event loop keeps turning during a batch-8 forward of the notebook ViT: p99 delay <= 10 ms', async function () {
    this.timeout(300000);
    const model = await createModel('xformers_notebook_vit', { device: 'cpu', seed: 1 });
    const images = randn([8, 3, 224, 224], { seed: 2 });
    try {
      const warm = model.forward(images);
      await warm.data();
      warm.dispose();
      const delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      const start = performance.now();
      let longestCall = 0;
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        const logits = model.forward(images);
        longestCall = Math.max(longestCall, performance.now() - t0);
        await logits.data();
        logits.dispose();
      }
      delay.disable();
      const ms = (ns: number) => ns / 1e6;
      const elapsed = performance.now() - start;
      console.log(`      3 forwards in ${elapsed.toFixed(0)} ms; longest forward() call ${longestCall.toFixed(1)} ms; ` +
        `event-loop delay p50 ${ms(delay.percentile(50)).toFixed(2)}, p99 ${ms(delay.percentile(99)).toFixed(2)}, ` +
        `max ${ms(delay.max).toFixed(2)} ms over ${delay.count} turns`);
      assert.ok(delay.count > 20, `the loop turned only ${delay.count} times in ${elapsed.toFixed(0)} ms`);
      assert.ok(ms(delay.percentile(99)) <= 10, `event-loop p99 delay ${ms(delay.percentile(99)).toFixed(2)} ms > 10 ms`);
    } finally {
      images.dispose();
      model.dispose();
    }
  });

  it('NODEFORMERS_CPU_QUEUE=0 runs every op on the calling thread, with the same results', () => {
    const script = `
      const { cpu, matmul, randn } = require(${JSON.stringify(path.join(__dirname, '..', 'ts', 'index'))});
      const a = randn([600, 600], { seed: 1 });
      const y = matmul(matmul(a, a), a);
      const idle = cpu.idle();
      process.stdout.write(JSON.stringify({ idle, sum: Array.from(y.dataSync()).reduce((s, v) => s + v, 0) }));`;
    const run = (queue: string | undefined) => {
      const env = { ...process.env };
      if (queue === undefined) delete env.NODEFORMERS_CPU_QUEUE;
      else env.NODEFORMERS_CPU_QUEUE = queue;
      const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { idle: boolean; sum: number };
    };
    const inline = run('0');
    const queued = run(undefined);
    assert.equal(inline.idle, true, 'with the queue off, the op had already run when it returned');
    assert.equal(queued.idle, false, 'with the queue on, two 600^3 products were still queued');
    assert.equal(inline.sum, queued.sum);
  });
});
