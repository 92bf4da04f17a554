// examples/server: concurrent requests batched without mixing rows, the bounded queue, bad
// requests, memory across many requests, the command line, and a graceful shutdown of the
// real process on SIGTERM. A tiny timm directory (deit_tiny's width at 32 x 32, one block).
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { classify, loadPretrained, VisionTransformer } from '../../ts/index';
import { liveStorage } from '../../ts/tensor';
import { RunningServer, startServer } from '../../examples/server/app';
import { spawnServer } from '../../examples/server/loadtest';
import type { MetricsSnapshot } from '../../examples/server/metrics';
import { parseCommandLine } from '../../examples/server/server';
import { checkerboard, encode, gradient, noise } from '../image_sources';
import { skipWithoutSharp } from '../helpers';
import { tinyPretrainedDir } from '../models/pretrained_dir';

const SERVER = path.join(__dirname, '..', '..', 'examples', 'server', 'server.ts');

interface Answer {
  status: number;
  body: { predictions?: { label: string; index: number; score: number }[]; error?: string };
  headers: Headers;
}

async function post(url: string, body: Uint8Array | string, contentType = 'image/png', query = ''): Promise<Answer> {
  const r = await fetch(`${url}/classify${query}`, { method: 'POST', headers: { 'content-type': contentType }, body });
  return { status: r.status, body: (await r.json()) as Answer['body'], headers: r.headers };
}

const getJson = async <T>(url: string): Promise<T> => (await fetch(url)).json() as Promise<T>;
const getMetrics = (url: string) => getJson<MetricsSnapshot>(`${url}/metrics`);
const queueDepth = async (url: string) => (await getJson<{ queue: { depth: number } }>(`${url}/healthz`)).queue.depth;

describe('server: classification over HTTP (examples/server)', function () {
  let dir: string;
  let images: Buffer[];
  let model: VisionTransformer;
  let expected: Awaited<ReturnType<typeof classify>>;

  before(async function () {
    skipWithoutSharp(this);
    dir = await tinyPretrainedDir(7);
    images = await Promise.all([
      encode(gradient(61, 47), 'png'), encode(checkerboard(40, 40, 5), 'png'), encode(noise(33, 50), 'jpeg'), encode(gradient(90, 30), 'jpeg'),
      encode(noise(48, 48, 3, 9), 'png'), encode(checkerboard(37, 52, 3), 'webp'), encode(noise(64, 40, 4, 3), 'png'), encode(gradient(20, 70), 'png'),
    ]);
    ({ model } = await loadPretrained(dir));
    // What classify gives each image alone, with the server's resampler.
    expected = [];
    for (const img of images) expected.push((await classify(model, img, { topk: 3, resampler: 'sharp' }))[0]);
    // Every image has scores of its own, so an answer from another image's row would show.
    assert.equal(new Set(expected.map((top) => top[0].score)).size, images.length);
  });

  after(() => model?.dispose());

  let server: RunningServer | null = null;
  afterEach(async () => {
    await server?.close();
    server = null;
  });

  for (const engine of ['main', 'worker'] as const) {
    it(`concurrent requests share forwards, and each gets its own image's single-image answer (${engine} engine)`, async () => {
      server = await startServer({ model: dir, port: 0, maxBatch: 8, maxWaitMs: 100, engine });
      const answers = await Promise.all(images.map((img) => post(server!.url, img, 'image/png', '?topk=3')));
      answers.forEach((a, i) => {
        assert.equal(a.status, 200, JSON.stringify(a.body));
        assert.deepEqual(a.body.predictions!.map((p) => [p.label, p.index]), expected[i].map((p) => [p.label, p.index]), `image ${i}`);
        // Scores to 1e-6: a row's result may depend on the batch's size through a GEMM's blocking (here they are bit-identical); a mixed row would be off by far more.
        a.body.predictions!.forEach((p, j) => assert.ok(Math.abs(p.score - expected[i][j].score) <= 1e-6, `image ${i}: ${p.score} vs ${expected[i][j].score}`));
      });
      const metrics = await getMetrics(server.url);
      assert.equal(metrics.responses['200'], images.length);
      assert.ok(metrics.batches >= 1 && metrics.batches < images.length, `${metrics.batches} batches for ${images.length} requests`);
      assert.ok(metrics.meanBatchSize > 1);
      for (const [key, ms] of Object.entries(metrics.eventLoopDelayMs)) assert.ok(ms >= 0, key);
      const health = await getJson(`${server.url}/healthz`);
      assert.deepEqual(health, {
        status: 'ok', model: 'deit_tiny_patch16_224', device: 'cpu', engine,
        queue: { depth: 0, inFlight: 0, max: 64 }, batching: { maxBatch: 8, maxWaitMs: 100 },
      });
    });
  }

  it('topk defaults to 5 (or the classes there are) and each request may ask its own', async () => {
    server = await startServer({ model: dir, port: 0, maxWaitMs: 50, engine: 'main' });
    const [all, one, two] = await Promise.all([post(server.url, images[0]), post(server.url, images[0], 'image/png', '?topk=1'), post(server.url, images[1], 'image/png', '?topk=2')]);
    assert.deepEqual(all.body.predictions!.map((p) => p.label).sort(), ['bird', 'cat', 'dog', 'fish']);
    assert.deepEqual(one.body.predictions, all.body.predictions!.slice(0, 1));
    assert.equal(two.body.predictions!.length, 2);
  });

  it('a full queue answers 503 with Retry-After; the admitted ones are answered', async () => {
    server = await startServer({ model: dir, port: 0, maxQueue: 1, maxBatch: 8, maxWaitMs: 200, engine: 'main' });
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => post(server!.url, images[i % images.length])));
    const statuses = answers.map((a) => a.status);
    assert.ok(statuses.every((s) => s === 200 || s === 503), statuses.join(' '));
    assert.ok(statuses.includes(200) && statuses.includes(503), statuses.join(' '));
    for (const a of answers.filter((x) => x.status === 503)) {
      assert.match(a.body.error!, /the queue is full \(1 requests waiting\)/);
      assert.ok(Number(a.headers.get('retry-after')) >= 1, `Retry-After: ${a.headers.get('retry-after')}`);
    }
    const metrics = await getMetrics(server.url);
    assert.equal(metrics.responses['503'], statuses.filter((s) => s === 503).length);
  });

  it('bad requests get 400/413/415 with a reason, wrong routes 404/405, and the server serves on', async () => {
    server = await startServer({ model: dir, port: 0, maxBodyBytes: 20000, engine: 'main' });
    const url = server.url;
    const cases: [Promise<Answer>, number, RegExp][] = [
      [post(url, Buffer.from('this is not an image at all')), 400, /^the image cannot be decoded: Input buffer contains unsupported image format$/],
      [post(url, images[0].subarray(0, 60)), 400, /^the image cannot be decoded: /],
      [post(url, Buffer.alloc(0)), 400, /^the body is empty: send the image's bytes$/],
      [post(url, Buffer.alloc(20001, 1)), 413, /^the body is larger than 20000 bytes$/],
      [post(url, images[0], 'text/plain'), 415, /^the body must be an image's bytes with content-type image\/\*, got 'text\/plain'$/],
      [post(url, images[0], 'image/png', '?topk=0'), 400, /^topk must be an integer from 1 to 4, got '0'$/],
      [post(url, images[0], 'image/png', '?topk=five'), 400, /^topk must be an integer from 1 to 4, got 'five'$/],
    ];
    for (const [answer, status, reason] of cases) {
      const a = await answer;
      assert.equal(a.status, status, JSON.stringify(a.body));
      assert.match(a.body.error!, reason);
    }
    const tooMany = await startServer({ model: dir, port: 0, maxPixels: 100, engine: 'main' });
    try {
      const a = await post(tooMany.url, images[0]);
      assert.equal(a.status, 400);
      assert.match(a.body.error!, /^the image cannot be decoded: .*pixel limit/);
    } finally {
      await tooMany.close();
    }
    const missing = await fetch(`${url}/classify/v2`, { method: 'POST' });
    assert.equal(missing.status, 404);
    assert.match(((await missing.json()) as { error: string }).error, /^no route \/classify\/v2/);
    const wrong = await fetch(`${url}/classify`);
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'POST');
    assert.equal((await fetch(`${url}/healthz`, { method: 'DELETE' })).status, 405);
    assert.equal((await post(url, images[0])).status, 200);
    const metrics = await getMetrics(url);
    assert.deepEqual(metrics.responses, { 200: 1, 400: 5, 413: 1, 415: 1 });
  });

  it('frees every tensor: live storages are the same after 400 requests', async () => {
    server = await startServer({ model: dir, port: 0, maxBatch: 8, maxWaitMs: 2, engine: 'main' });
    assert.equal((await post(server.url, images[0])).status, 200);
    // Tensors earlier tests dropped are collected first, so that none is freed inside the count.
    for (let last = -1, i = 0; i < 40 && liveStorage().storages !== last; i++) {
      last = liveStorage().storages;
      global.gc?.();
      await new Promise((r) => setTimeout(r, 5));
    }
    const before = liveStorage();
    for (let wave = 0; wave < 25; wave++) {
      const answers = await Promise.all(Array.from({ length: 16 }, (_, i) => post(server!.url, images[(wave + i) % images.length])));
      assert.ok(answers.every((a) => a.status === 200));
    }
    assert.deepEqual(liveStorage(), before);
    const metrics = await getMetrics(server.url);
    assert.equal(metrics.responses['200'], 401);
  });

  it('a model that does not load fails the start with the library\'s reason, on either engine', async () => {
    for (const engine of ['main', 'worker'] as const) {
      await assert.rejects(startServer({ model: 'vit_tiny_patch99_224', port: 0, engine }), /createModel: unknown model 'vit_tiny_patch99_224'; did you mean vit_tiny_patch16_224/);
    }
  });

  it('close() finishes the queued requests, then refuses connections', async () => {
    server = await startServer({ model: dir, port: 0, maxBatch: 8, maxWaitMs: 5000, engine: 'main' });
    const { url } = server;
    const answers = images.slice(0, 3).map((img) => post(url, img));
    while ((await queueDepth(url)) < 3) await new Promise((r) => setTimeout(r, 10));
    const t0 = performance.now();
    await server.close();
    server = null;
    assert.ok(performance.now() - t0 < 4000, 'close() did not wait for max-wait-ms');
    assert.deepEqual((await Promise.all(answers)).map((a) => a.status), [200, 200, 200]);
    await assert.rejects(fetch(`${url}/healthz`), /fetch failed/);
  });

  it('the process shuts down gracefully on SIGTERM: in-flight requests complete, then it exits 0', async () => {
    const { child, url, output } = await spawnServer(['--model', dir, '--max-wait-ms', '5000', '--engine', 'main']);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const answers = images.slice(0, 4).map((img) => post(url, img));
      while ((await queueDepth(url)) < 4) await new Promise((r) => setTimeout(r, 10));
      child.kill('SIGTERM');
      const done = await Promise.all(answers);
      assert.deepEqual(done.map((a) => a.status), [200, 200, 200, 200]);
      done.forEach((a, i) => assert.deepEqual(a.body.predictions!.slice(0, 3).map((p) => p.index), expected[i].map((p) => p.index)));
      assert.equal(await exited, 0, output());
      assert.match(output(), /SIGTERM: finishing 4 queued requests, then exiting\nclosed\n/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

describe('server: its command line', () => {
  it('reads every option, with the defaults', () => {
    assert.deepEqual(parseCommandLine(['--model', 'deit_tiny_patch16_224']), {
      model: 'deit_tiny_patch16_224', device: 'cpu', dtype: 'float32', port: 8080, host: '127.0.0.1', maxBatch: 8, maxWaitMs: 10, maxQueue: 64,
      maxBodyBytes: 10 * 2 ** 20, maxPixels: 40e6, resampler: 'sharp', engine: 'main', shutdownTimeoutMs: 30000,
    });
    const o = parseCommandLine(['--model', 'm', '--device', 'cuda:1', '--max-batch', '32', '--max-wait-ms', '0', '--max-queue', '5', '--max-body-mb', '2', '--port', '0', '--engine', 'worker']);
    assert.ok(o !== 'help');
    assert.deepEqual([o.device, o.engine, o.maxBatch, o.maxWaitMs, o.maxQueue, o.maxBodyBytes, o.port], ['cuda:1', 'worker', 32, 0, 5, 2 * 2 ** 20, 0]);
    assert.equal(parseCommandLine(['--help']), 'help');
  });

  it('a bad command line gives one line saying what is wrong, the usage, and exit code 2', () => {
    const bad: [string[], string][] = [
      [[], 'server: --model <dir|name> is required'],
      [['--model', 'm', '--max-batch', '0'], "server: --max-batch takes an integer of at least 1, got '0'"],
      [['--model', 'm', '--engine', 'gpu'], "server: --engine takes main, worker, got 'gpu'"],
      [['--model', 'm', '--device', 'tpu'], "server: --device takes cpu or cuda:N, got 'tpu'"],
      [['--model', 'm', '--frobnicate'], "server: Unknown option '--frobnicate'"],
    ];
    for (const [args, line] of bad.slice(0, 4)) assert.throws(() => parseCommandLine(args), { message: line.slice('server: '.length) });
    const r = spawnSync(process.execPath, ['--import', 'tsx', SERVER, ...bad[4][0]], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    const lines = r.stderr.split('\n');
    assert.equal(lines[0], bad[4][1]);
    assert.equal(lines[1], 'Usage:');
    assert.equal(r.stdout, '');
  });
});
