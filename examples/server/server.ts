// A classification server (examples/server/README.md): the model loaded once, concurrent
// requests batched into one forward, a bounded queue, a graceful shutdown on SIGINT/SIGTERM.
//   node --import tsx examples/server/server.ts --model <dir|name> [--device cpu] [--port 8080]
import { parseArgs } from 'node:util';
import { FLOAT_DTYPES, FloatDType, Resampler } from '../../ts/index';
import { DEFAULTS, ServerOptions, startServer } from './app';
import { ENGINES, Engine } from './classifier';

const USAGE = `Usage:
  node --import tsx examples/server/server.ts --model <dir|name> [options]
    --model <dir|name>        a timm directory (config.json + model.safetensors) or a registered name (random weights)
    --device <cpu|cuda:N>     default cpu
    --dtype <float32|float16|bfloat16>  default float32
    --port <n>                default 8080 (0: any free port)
    --host <address>          default 127.0.0.1
    --max-batch <n>           the most requests in one forward (default 8)
    --max-wait-ms <ms>        how long the first request waits for others (default 10)
    --max-queue <n>           requests waiting before 503 (default 64)
    --max-body-mb <MiB>       the largest body (default 10)
    --max-pixels <n>          the largest image, in pixels (default 40000000)
    --resampler <sharp|pillow>  sharp: off the event loop (default); pillow: timm's exact pixels
    --engine <worker|main>    where the forward runs (default: main)
    --shutdown-timeout-ms <ms>  default 30000
`;

class UsageError extends Error {}

function integer(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min) throw new UsageError(`--${name} takes an integer of at least ${min}, got '${value}'`);
  return n;
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) throw new UsageError(`--${name} takes ${allowed.join(', ')}, got '${value}'`);
  return value as T;
}

/** The command line as server options; a UsageError says what is wrong. */
export function parseCommandLine(argv: string[]): (Partial<ServerOptions> & Pick<ServerOptions, 'model'>) | 'help' {
  const names = ['model', 'device', 'dtype', 'port', 'host', 'max-batch', 'max-wait-ms', 'max-queue', 'max-body-mb', 'max-pixels', 'resampler', 'engine', 'shutdown-timeout-ms'];
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, allowPositionals: false, options: {
      ...Object.fromEntries(names.map((n) => [n, { type: 'string' as const }])), help: { type: 'boolean', short: 'h' },
    } }));
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]);
  }
  if (values.help) return 'help';
  const v = values as Record<string, string | undefined>;
  if (!v.model) throw new UsageError('--model <dir|name> is required');
  const device = v.device ?? DEFAULTS.device;
  if (!/^(cpu|cuda(:\d+)?)$/.test(device)) throw new UsageError(`--device takes cpu or cuda:N, got '${device}'`);
  return {
    model: v.model,
    device: device as ServerOptions['device'],
    dtype: oneOf<FloatDType>('dtype', v.dtype ?? DEFAULTS.dtype, FLOAT_DTYPES),
    port: v.port === undefined ? DEFAULTS.port : integer('port', v.port, 0),
    host: v.host ?? DEFAULTS.host,
    maxBatch: v['max-batch'] === undefined ? DEFAULTS.maxBatch : integer('max-batch', v['max-batch'], 1),
    maxWaitMs: v['max-wait-ms'] === undefined ? DEFAULTS.maxWaitMs : integer('max-wait-ms', v['max-wait-ms'], 0),
    maxQueue: v['max-queue'] === undefined ? DEFAULTS.maxQueue : integer('max-queue', v['max-queue'], 1),
    maxBodyBytes: v['max-body-mb'] === undefined ? DEFAULTS.maxBodyBytes : integer('max-body-mb', v['max-body-mb'], 1) * 2 ** 20,
    maxPixels: v['max-pixels'] === undefined ? DEFAULTS.maxPixels : integer('max-pixels', v['max-pixels'], 1),
    resampler: oneOf<Resampler>('resampler', v.resampler ?? DEFAULTS.resampler, ['sharp', 'pillow']),
    engine: oneOf<Engine>('engine', v.engine ?? 'main', ENGINES),
    shutdownTimeoutMs: v['shutdown-timeout-ms'] === undefined ? DEFAULTS.shutdownTimeoutMs : integer('shutdown-timeout-ms', v['shutdown-timeout-ms'], 0),
  };
}

async function main(): Promise<void> {
  let options;
  try {
    options = parseCommandLine(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`server: ${e.message}\n${USAGE}`);
    process.exit(2);
  }
  if (options === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const server = await startServer(options);
  const o = { ...DEFAULTS, ...options };
  console.log(`nodeformers server: ${server.info.name} on ${server.info.device} (${server.engine} engine), ` +
    `max batch ${o.maxBatch}, max wait ${o.maxWaitMs} ms, max queue ${o.maxQueue}; listening on ${server.url}`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      console.error(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    console.log(`${signal}: finishing ${server.queueDepth} queued requests, then exiting`);
    setTimeout(() => {
      console.error(`still not closed after ${o.shutdownTimeoutMs + 5000} ms: exiting`);
      process.exit(1);
    }, o.shutdownTimeoutMs + 5000).unref();
    server.close().then(() => {
      console.log('closed');
      process.exit(0);
    }, (e: Error) => {
      console.error(`closing failed: ${e.message}`);
      process.exit(1);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

if (require.main === module) {
  main().catch((e: Error) => {
    console.error(`server: ${e.message}`);
    process.exit(1);
  });
}
