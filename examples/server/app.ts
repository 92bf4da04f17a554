// The classification server over Node's own http: POST /classify (an image's bytes) answers
// its top-k classes; requests are decoded as they arrive, then batched into one forward
// (batcher.ts); GET /healthz and GET /metrics say how it is doing; close() drains it.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Classification, preprocessImage, Resampler } from '../../ts/index';
import { Batcher, BatcherClosedError, QueueFullError } from './batcher';
import { Classifier, Engine, openClassifier } from './classifier';
import { Metrics } from './metrics';
import type { ModelInfo, ModelSpec } from './model';

export interface ServerOptions extends ModelSpec {
  /** 0 picks a free port. */
  port: number;
  host: string;
  /** Dynamic batching: the most requests in one forward, and how long the first waits for more. */
  maxBatch: number;
  maxWaitMs: number;
  /** Requests admitted and not yet in a forward; past this, 503 with Retry-After. */
  maxQueue: number;
  /** Bodies over this many bytes get 413. */
  maxBodyBytes: number;
  /** Images of more pixels get 400 before they are decoded. */
  maxPixels: number;
  /** 'sharp' resizes in libuv's pool, off the event loop; 'pillow' gives timm's exact pixels, in JS on the main thread. */
  resampler: Resampler;
  /** Where the forward runs (classifier.ts): the main thread (default), or a worker thread that holds the model. */
  engine: Engine;
  /** close() stops waiting for connections after this long. */
  shutdownTimeoutMs: number;
}

export const DEFAULTS: Omit<ServerOptions, 'model' | 'engine'> = {
  device: 'cpu', dtype: 'float32', port: 8080, host: '127.0.0.1', maxBatch: 8, maxWaitMs: 10, maxQueue: 64,
  maxBodyBytes: 10 * 2 ** 20, maxPixels: 40e6, resampler: 'sharp', shutdownTimeoutMs: 30000,
};


export interface RunningServer {
  url: string;
  port: number;
  info: ModelInfo;
  engine: Engine;
  metrics: Metrics;
  /** Stops accepting, answers every admitted request, closes every connection, frees the model. */
  close(): Promise<void>;
  /** Requests admitted and not yet in a forward. */
  readonly queueDepth: number;
}

/** An answer other than 200, with its reason. */
class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

interface Job {
  row: Float32Array;
  topk: number;
}

export async function startServer(options: Partial<ServerOptions> & Pick<ServerOptions, 'model'>): Promise<RunningServer> {
  const opts: ServerOptions = { ...DEFAULTS, engine: 'main', ...options };
  require('sharp'); // decoding needs the optional package sharp (and its libvips): fail now, not on the first request
  const classifier: Classifier = await openClassifier(opts, opts.engine);
  const { info } = classifier;
  const batcher = new Batcher<Job, Classification[]>({
    maxBatch: opts.maxBatch, maxWaitMs: opts.maxWaitMs, maxQueue: opts.maxQueue,
    run: async (jobs) => {
      const results = await classifier.classify(jobs.map((j) => j.row), Math.max(...jobs.map((j) => j.topk)));
      return results.map((top, i) => top.slice(0, jobs[i].topk));
    },
  });
  const metrics = new Metrics(batcher.stats);
  let draining = false;

  const send = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)),
      ...(draining ? { Connection: 'close' } : {}), ...headers });
    res.end(text);
  };

  const retryAfter = () => {
    const s = batcher.stats;
    const batchSeconds = s.batches ? s.runMs / s.batches / 1000 : 1;
    return String(Math.max(1, Math.ceil((batcher.depth / opts.maxBatch + 1) * batchSeconds)));
  };

  async function classifyRequest(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const reply = (status: number, body: unknown, headers?: Record<string, string>) => {
      metrics.count(status);
      send(res, status, body, headers);
    };
    try {
      if (draining) throw new HttpError(503, 'the server is shutting down', { 'Retry-After': retryAfter() });
      const topk = parseTopk(url.searchParams.get('topk'), info.numClasses);
      const type = req.headers['content-type'] ?? '';
      if (!/^(image\/|application\/octet-stream\b)/i.test(type)) {
        throw new HttpError(415, `the body must be an image's bytes with content-type image/*, got ${type ? `'${type}'` : 'none'}`);
      }
      const length = Number(req.headers['content-length'] ?? 0);
      if (length > opts.maxBodyBytes) throw tooLarge(opts.maxBodyBytes);
      let answer: Promise<Classification[]>;
      try {
        answer = batcher.submit(async () => {
          const body = await readBody(req, opts.maxBodyBytes);
          if (body.length === 0) throw new HttpError(400, "the body is empty: send the image's bytes");
          try {
            return { row: await preprocessImage(body, info.preprocess, { resampler: opts.resampler, maxPixels: opts.maxPixels }), topk };
          } catch (e) {
            throw new HttpError(400, `the image cannot be decoded: ${((e as Error).cause as Error | undefined)?.message ?? (e as Error).message}`);
          }
        });
      } catch (e) {
        if (e instanceof QueueFullError || e instanceof BatcherClosedError) throw new HttpError(503, e.message, { 'Retry-After': retryAfter() });
        throw e;
      }
      reply(200, { predictions: await answer });
    } catch (e) {
      if (e instanceof HttpError) reply(e.status, { error: e.message }, e.headers);
      else reply(500, { error: (e as Error).message });
    }
  }

  const routes: Record<string, Record<string, (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void | Promise<void>>> = {
    '/classify': { POST: classifyRequest },
    '/healthz': {
      GET: (_req, res) => send(res, 200, {
        status: draining ? 'draining' : 'ok', model: info.name, device: info.device, engine: classifier.engine,
        queue: { depth: batcher.depth, inFlight: batcher.inFlight, max: opts.maxQueue },
        batching: { maxBatch: opts.maxBatch, maxWaitMs: opts.maxWaitMs },
      }),
    },
    '/metrics': { GET: (_req, res) => send(res, 200, metrics.snapshot()) },
    '/metrics/reset': {
      POST: (_req, res) => {
        const before = metrics.snapshot();
        metrics.reset();
        send(res, 200, before);
      },
    },
  };

  const server = http.createServer({ requestTimeout: 30000, headersTimeout: 10000, keepAliveTimeout: 5000 }, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = routes[url.pathname];
    if (!route) return send(res, 404, { error: `no route ${url.pathname}: POST /classify, GET /healthz, GET /metrics` });
    const handler = route[req.method ?? ''];
    if (!handler) return send(res, 405, { error: `${req.method} ${url.pathname} is not allowed: ${Object.keys(route).join(', ')}` }, { Allow: Object.keys(route).join(', ') });
    void handler(req, res, url);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  }).catch(async (e) => {
    await classifier.close();
    metrics.close();
    throw e;
  });
  const port = (server.address() as AddressInfo).port;

  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), opts.shutdownTimeoutMs);
      await batcher.close();
      // Answers written while draining said Connection: close; connections idle since then go now.
      server.closeIdleConnections();
      await closed;
      clearTimeout(force);
      await classifier.close();
      metrics.close();
    })();
    return closing;
  };

  return {
    url: `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`, port, info, engine: classifier.engine, metrics, close,
    get queueDepth() { return batcher.depth; },
  };
}

function parseTopk(value: string | null, numClasses: number): number {
  if (value === null) return Math.min(5, numClasses);
  const k = Number(value);
  if (!/^\d+$/.test(value) || k < 1 || k > numClasses) throw new HttpError(400, `topk must be an integer from 1 to ${numClasses}, got '${value}'`);
  return k;
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, `the body is larger than ${limit} bytes`, { Connection: 'close' });
}

/** The request's body, refused past `limit` bytes. */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge(limit));
      } else {
        chunks.push(chunk);
      }
    });
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
    req.once('close', () => reject(new HttpError(400, 'the client closed the connection before sending the whole body')));
  });
}
