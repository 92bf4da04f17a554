// What the fuzz files share: the seeded generator, the run's seed (printed by each test;
// NODEFORMERS_FUZZ_SEED replays it), and how a value or an error is shown in a failure.
import { freshSeed } from '../helpers';

export const SEED = process.env.NODEFORMERS_FUZZ_SEED !== undefined ? Number(process.env.NODEFORMERS_FUZZ_SEED) : freshSeed();

/** mulberry32: small, seeded, good enough to pick cases. */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number { return lo + Math.floor(this.next() * (hi - lo + 1)); }
  pick<T>(items: readonly T[]): T { return items[Math.floor(this.next() * items.length)]; }
  chance(p: number): boolean { return this.next() < p; }
}

/** The generator of case `index` of a run: each case replays alone from (seed, index). */
export function caseRng(seed: number, index: number): Rng {
  return new Rng((Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index + 1, 0xc2b2ae35)) >>> 0);
}

/** The label of a forged argument (JSON, or a note when reading it throws). */
export function printable(v: unknown): string {
  try {
    return JSON.stringify(v, (_, x) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x))?.slice(0, 160) ?? String(v);
  } catch {
    return '(an object whose reading throws)';
  }
}

export function describeError(e: unknown): string {
  return e instanceof Error ? `${e.constructor.name}: ${e.message.split('\n')[0]}` : `a non-Error ${typeof e}: ${String(e)}`;
}
