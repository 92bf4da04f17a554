// Where the forward runs: on the main thread ('main'; its ops only enqueue, on a CUDA stream or
// the CPU queue), or in a worker thread that holds the model ('worker'). Both give the same answers.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Classification } from '../../ts/index';
import { classifyRows, loadModel, ModelInfo, ModelSpec, stackRows } from './model';

export type Engine = 'main' | 'worker';
export const ENGINES: readonly Engine[] = ['main', 'worker'];

export interface Classifier {
  readonly info: ModelInfo;
  readonly engine: Engine;
  /** The top `topk` classes of each row (one request's preprocessed image), in one forward. */
  classify(rows: readonly Float32Array[], topk: number): Promise<Classification[][]>;
  /** Frees the model (and ends the worker). */
  close(): Promise<void>;
}

/** Loads the model once, on the main thread or in a worker. */
export async function openClassifier(spec: ModelSpec, engine: Engine): Promise<Classifier> {
  if (engine === 'worker') return WorkerClassifier.start(spec);
  const { model, info } = await loadModel(spec);
  return {
    info,
    engine,
    classify: (rows, topk) => classifyRows(model, info, stackRows(rows), rows.length, topk),
    close: async () => model.dispose(),
  };
}

/** What the worker posts back (classifier_worker.ts). */
export type WorkerReply =
  | { type: 'ready'; info: ModelInfo }
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; results: Classification[][] }
  | { type: 'error'; id: number; message: string };

// Run through tsx as the rest of the example: a worker loads its TypeScript the same way.
const BOOT = "require('tsx/cjs'); require(require('node:worker_threads').workerData.entry);";

class WorkerClassifier implements Classifier {
  readonly engine = 'worker';
  private nextId = 0;
  private pending = new Map<number, { resolve(r: Classification[][]): void; reject(e: Error): void }>();
  private ended: Error | null = null;
  private exited: Promise<void>;

  private constructor(private readonly worker: Worker, readonly info: ModelInfo) {
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (m: WorkerReply) => {
      if (m.type !== 'result' && m.type !== 'error') return;
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.type === 'result') p?.resolve(m.results);
      else p?.reject(new Error(m.message));
    });
    const fail = (e: Error) => {
      this.ended ??= e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the model's worker thread exited (code ${code})`)));
  }

  static async start(spec: ModelSpec): Promise<WorkerClassifier> {
    const worker = new Worker(BOOT, { eval: true, workerData: { spec, entry: path.join(__dirname, 'classifier_worker.ts') } });
    const info = await new Promise<ModelInfo>((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`the model's worker thread exited (code ${code}) before loading the model`));
      worker.once('error', reject);
      worker.once('exit', onExit);
      worker.once('message', (m: WorkerReply) => {
        worker.off('error', reject);
        worker.off('exit', onExit);
        if (m.type === 'ready') resolve(m.info);
        else reject(new Error(m.type === 'failed' ? m.message : `unexpected message '${m.type}' from the model's worker`));
      });
    });
    return new WorkerClassifier(worker, info);
  }

  classify(rows: readonly Float32Array[], topk: number): Promise<Classification[][]> {
    if (this.ended) return Promise.reject(this.ended);
    const id = this.nextId++;
    const stacked = stackRows(rows);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'classify', id, rows: stacked, count: rows.length, topk }, [stacked.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    if (!this.ended) this.worker.postMessage({ type: 'close' });
    await this.exited;
  }
}
