// Dynamic batching: items are admitted into a bounded queue while they are prepared (a
// request's body read and its image decoded), then run together: a batch starts when
// maxBatch items are ready or maxWaitMs has passed since the oldest ready one arrived. One
// batch runs at a time; each caller gets its own item's result.

export interface BatcherOptions<T, R> {
  /** The most items in one batch. */
  maxBatch: number;
  /** How long the oldest ready item waits for others before its batch runs (0: at once). */
  maxWaitMs: number;
  /** The most items admitted and not yet running (being prepared, or ready); more are refused. */
  maxQueue: number;
  /** Runs one batch: one result per item, in order. */
  run(items: T[]): Promise<R[]>;
}

/** submit() refuses an item when the queue is full (the server answers 503). */
export class QueueFullError extends Error {
  constructor(readonly maxQueue: number) {
    super(`the queue is full (${maxQueue} requests waiting)`);
  }
}

/** submit() after close(). */
export class BatcherClosedError extends Error {
  constructor() {
    super('the server is shutting down');
  }
}

interface Waiting<T, R> {
  item: T;
  readyAt: number;
  resolve(r: R): void;
  reject(e: unknown): void;
}

export interface BatcherStats {
  /** Batches run, and the items in them. */
  batches: number;
  items: number;
  /** Milliseconds spent in run(), summed, and the longest. */
  runMs: number;
  maxRunMs: number;
}

export class Batcher<T, R> {
  private preparing = 0;
  private ready: Waiting<T, R>[] = [];
  private running = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  readonly stats: BatcherStats = { batches: 0, items: 0, runMs: 0, maxRunMs: 0 };

  constructor(private readonly opts: BatcherOptions<T, R>) {
    for (const key of ['maxBatch', 'maxQueue'] as const) {
      if (!Number.isInteger(opts[key]) || opts[key] < 1) throw new RangeError(`Batcher: ${key} must be a positive integer, got ${opts[key]}`);
    }
    if (!(opts.maxWaitMs >= 0)) throw new RangeError(`Batcher: maxWaitMs must be 0 or more, got ${opts.maxWaitMs}`);
  }

  /** Items admitted and not yet running: being prepared, or ready and waiting for a batch. */
  get depth(): number {
    return this.preparing + this.ready.length;
  }

  /** Items in the batch running now. */
  get inFlight(): number {
    return this.running;
  }

  /**
   * Admits an item at once (or throws QueueFullError / BatcherClosedError synchronously),
   * prepares it, and resolves with its result once its batch has run. A preparation that
   * fails leaves the queue and rejects with its error.
   */
  submit(prepare: () => Promise<T>): Promise<R> {
    if (this.closed) throw new BatcherClosedError();
    if (this.depth >= this.opts.maxQueue) throw new QueueFullError(this.opts.maxQueue);
    this.preparing++;
    return new Promise<R>((resolve, reject) => {
      prepare().then((item) => {
        this.preparing--;
        this.ready.push({ item, readyAt: performance.now(), resolve, reject });
        this.schedule();
      }, (e) => {
        this.preparing--;
        reject(e);
        this.schedule();
      });
    });
  }

  /** Refuses new items; resolves once every admitted item has run and been answered. */
  close(): Promise<void> {
    this.closed = true;
    this.schedule();
    return this.idle();
  }

  private idle(): Promise<void> {
    if (this.depth === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.running > 0) return; // the batch running now schedules the next when it ends
    if (this.ready.length === 0) {
      if (this.depth === 0) this.idleWaiters.splice(0).forEach((resolve) => resolve());
      return;
    }
    const waited = performance.now() - this.ready[0].readyAt;
    // Closing: nothing more is coming once the ones being prepared are ready, so run at once.
    if (this.ready.length >= this.opts.maxBatch || waited >= this.opts.maxWaitMs || (this.closed && this.preparing === 0)) {
      this.runBatch();
    } else if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.schedule();
      }, this.opts.maxWaitMs - waited);
    }
  }

  private runBatch(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const batch = this.ready.splice(0, this.opts.maxBatch);
    this.running = batch.length;
    const start = performance.now();
    // The counts are updated before the callers hear, so that an answer's reader sees its batch counted.
    const settle = (answer: () => void) => {
      const ms = performance.now() - start;
      this.stats.batches++;
      this.stats.items += batch.length;
      this.stats.runMs += ms;
      this.stats.maxRunMs = Math.max(this.stats.maxRunMs, ms);
      this.running = 0;
      answer();
      // The next batch starts after the event loop's I/O has run (requests read, images decoded).
      setImmediate(() => this.schedule());
    };
    let results: Promise<R[]>;
    try {
      results = this.opts.run(batch.map((w) => w.item));
    } catch (e) {
      results = Promise.reject(e);
    }
    results.then((out) => {
      if (!Array.isArray(out) || out.length !== batch.length) throw new Error(`Batcher: run gave ${Array.isArray(out) ? out.length : typeof out} results for ${batch.length} items`);
      return out;
    }).then((out) => settle(() => batch.forEach((w, i) => w.resolve(out[i]))), (e) => settle(() => batch.forEach((w) => w.reject(e))));
  }
}
