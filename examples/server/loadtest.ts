// A load test of the classification server on localhost with autocannon: starts server.ts as
// a child process, warms it up, fires `connections` connections posting one generated JPEG for
// `duration` seconds, then prints throughput, latency p50/p99, the mean batch size and the
// server's event-loop delay during the run, and shuts the server down (it must exit 0).
//   node --import tsx examples/server/loadtest.ts [--model xformers_notebook_vit] [--connections 8] [--duration 20]
import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { MetricsSnapshot } from './metrics';

export interface LoadTestOptions {
  /** A timm directory or a registered name (server.ts's --model). */
  model: string;
  device?: string;
  connections?: number;
  /** Seconds of load. */
  duration?: number;
  maxBatch?: number;
  maxWaitMs?: number;
  maxQueue?: number;
  engine?: 'worker' | 'main';
  /** The generated JPEG's size. */
  width?: number;
  height?: number;
}

export interface LoadTestResult {
  options: Required<LoadTestOptions>;
  seconds: number;
  /** Answers by status code, connection errors and timeouts. */
  statusCodes: Record<string, number>;
  errors: number;
  timeouts: number;
  /** 200s a second, over the run. */
  throughput: number;
  latencyMs: { p50: number; p99: number; max: number; mean: number };
  /** The server's /metrics after the run (reset after the warmup). */
  server: MetricsSnapshot;
  /** The server's RSS after the warmup, to compare with server.rssMiB after the run. */
  rssMiBBefore: number;
  /** The server's exit code after SIGTERM (0: a graceful shutdown). */
  exitCode: number | null;
}

const DEFAULTS: Omit<Required<LoadTestOptions>, 'model'> = {
  device: 'cpu', connections: 8, duration: 20, maxBatch: 8, maxWaitMs: 10, maxQueue: 64, engine: 'main', width: 640, height: 480,
};

/** A width x height JPEG of gradients and a little noise, as a camera photo is sized. */
export async function generatedJpeg(width: number, height: number): Promise<Buffer> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sharp = require('sharp') as typeof import('sharp');
  const data = Buffer.alloc(width * height * 3);
  let s = 1;
  for (let i = 0; i < width * height; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const x = i % width, y = Math.floor(i / width);
    data[i * 3] = (255 * x) / width;
    data[i * 3 + 1] = (255 * y) / height;
    data[i * 3 + 2] = (x ^ y) & 0xff ^ (s >>> 28);
  }
  return sharp(data, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

/** Starts server.ts on a free port; resolves with the child and its URL once it listens. */
export function spawnServer(args: string[]): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'server.ts'), '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m) {
        child.stdout!.off('data', onData);
        child.stdout!.on('data', (c: Buffer) => { output += c.toString(); });
        resolve({ child, url: m[1], output: () => output });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => { output += c.toString(); });
    child.once('exit', (code) => reject(new Error(`the server exited (code ${code}) before listening:\n${output}`)));
  });
}

export async function runLoadTest(options: LoadTestOptions): Promise<LoadTestResult> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const autocannon = require('autocannon') as (opts: object) => Promise<AutocannonResult>;
  const given = Object.fromEntries(Object.entries(options).filter(([, x]) => x !== undefined));
  const o = { ...DEFAULTS, ...given } as Required<LoadTestOptions>;
  const image = await generatedJpeg(o.width, o.height);
  const { child, url } = await spawnServer(['--model', o.model, '--device', o.device, '--max-batch', String(o.maxBatch),
    '--max-wait-ms', String(o.maxWaitMs), '--max-queue', String(o.maxQueue), '--engine', o.engine]);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const post = () => fetch(`${url}/classify`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: image });
    for (let i = 0; i < 3; i++) {
      const r = await post();
      if (r.status !== 200) throw new Error(`warmup: ${r.status} ${await r.text()}`);
    }
    const before = (await (await fetch(`${url}/metrics/reset`, { method: 'POST' })).json()) as MetricsSnapshot;
    const result = await autocannon({
      url: `${url}/classify`, method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: image,
      connections: o.connections, duration: o.duration, timeout: 30,
    });
    const server = (await (await fetch(`${url}/metrics`)).json()) as MetricsSnapshot;
    const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count]));
    child.kill('SIGTERM');
    return {
      options: o, seconds: result.duration, statusCodes, errors: result.errors, timeouts: result.timeouts,
      throughput: round((statusCodes['200'] ?? 0) / result.duration),
      latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max, mean: round(result.latency.average) },
      server, rssMiBBefore: before.rssMiB, exitCode: await exited,
    };
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
  }
}

interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  statusCodeStats: Record<string, { count: number }>;
  latency: { p50: number; p99: number; max: number; average: number };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

/** The figures as BENCHMARKS.md shows them. */
export function formatResult(r: LoadTestResult): string {
  const o = r.options, s = r.server;
  const codes = Object.entries(r.statusCodes).map(([c, n]) => `${c}: ${n}`).join(', ');
  return [
    `model ${o.model} on ${o.device} (${o.engine} engine), ${o.width}x${o.height} JPEG, ${o.connections} connections for ${r.seconds} s, ` +
      `max batch ${o.maxBatch}, max wait ${o.maxWaitMs} ms, max queue ${o.maxQueue}`,
    `throughput ${r.throughput} req/s; latency p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms`,
    `answers ${codes}; errors ${r.errors}, timeouts ${r.timeouts}`,
    `batches ${s.batches}, mean batch size ${s.meanBatchSize}, batch ${s.batchMs.mean} ms mean`,
    `event-loop delay p50 ${s.eventLoopDelayMs.p50} ms, p99 ${s.eventLoopDelayMs.p99} ms, max ${s.eventLoopDelayMs.max} ms`,
    `server RSS ${r.rssMiBBefore} MiB after the warmup, ${s.rssMiB} MiB after the run; exit code ${r.exitCode} after SIGTERM`,
  ].join('\n');
}

if (require.main === module) {
  const { values: v } = parseArgs({ options: Object.fromEntries(['model', 'device', 'connections', 'duration', 'max-batch', 'max-wait-ms', 'max-queue', 'engine', 'size']
    .map((n) => [n, { type: 'string' as const }])) });
  const num = (name: string) => (v[name] === undefined ? undefined : Number(v[name]));
  const [width, height] = ((v.size as string | undefined) ?? '640x480').split('x').map(Number);
  runLoadTest({
    model: (v.model as string | undefined) ?? 'xformers_notebook_vit', device: v.device as string | undefined, connections: num('connections'),
    duration: num('duration'), maxBatch: num('max-batch'), maxWaitMs: num('max-wait-ms'), maxQueue: num('max-queue'),
    engine: v.engine as 'worker' | 'main' | undefined, width, height,
  }).then((r) => console.log(formatResult(r)), (e: Error) => {
    console.error(`loadtest: ${e.message}`);
    process.exit(1);
  });
}
