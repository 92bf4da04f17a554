// The state of the random ops that run on a device (dropout, dropPath, attention's dropout):
// a Philox seed and an offset into its stream (native/core/philox.h), as PyTorch's Philox
// generators keep them. A call takes the next words of the stream and moves the offset past
// them (rounded up to a block of 4), so a run that seeds once and makes the same calls draws
// the same numbers; since the CPU and CUDA kernels read one stream, a dropout mask is the
// same on either device. One default generator per device, as PyTorch has.
import { checkDevice, Device, DeviceLike } from './dtype';
import { invalidParameterError, rangeError } from './errors';

/** The seed of a generator never seeded: PyTorch's default (c10's default_rng_seed_val), so a run that never seeds is reproducible too. */
export const DEFAULT_SEED = 67280421310721;

/** Seeds and offsets are integers below 2^53: exact in a number, and in the addon's argument. */
const LIMIT = 2 ** 53;

/** Where a generator stands: its seed and the offset (a multiple of 4) of the next word it gives. */
export interface GeneratorState {
  seed: number;
  offset: number;
}

/** A checked seed: an integer in [0, 2^53). */
export function checkSeed(fn: string, name: string, seed: unknown): number {
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed >= LIMIT) {
    throw invalidParameterError(fn, name, 'an integer in [0, 2^53)', seed);
  }
  return seed;
}

/** A checked offset: an integer in [0, 2^53), a multiple of 4 (a call starts on a Philox block). */
export function checkOffset(fn: string, name: string, offset: unknown): number {
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0 || offset >= LIMIT || offset % 4 !== 0) {
    throw invalidParameterError(fn, name, 'an integer in [0, 2^53) and a multiple of 4', offset);
  }
  return offset;
}

/**
 * A Philox stream position (torch.Generator's seed and offset): what dropout draws from. Not
 * named Generator: importing it would shadow TypeScript's global Generator type.
 */
export class RandomGenerator {
  private _seed: number;
  private _offset = 0;

  constructor(seed: number = DEFAULT_SEED) {
    this._seed = checkSeed('RandomGenerator', 'seed', seed);
  }

  get seed(): number {
    return this._seed;
  }

  /** The next word a call will read (a multiple of 4). */
  get offset(): number {
    return this._offset;
  }

  /** Starts the stream of `seed` from its beginning (offset 0). Returns this. */
  manualSeed(seed: number): this {
    this._seed = checkSeed('RandomGenerator.manualSeed', 'seed', seed);
    this._offset = 0;
    return this;
  }

  /** The state, to save and restore with setState (a run resumed from it draws what it would have). */
  getState(): GeneratorState {
    return { seed: this._seed, offset: this._offset };
  }

  setState(state: GeneratorState): this {
    const fn = 'RandomGenerator.setState';
    if (state === null || typeof state !== 'object') throw invalidParameterError(fn, 'state', 'an object { seed, offset }', state);
    const seed = checkSeed(fn, 'state.seed', state.seed);
    this._offset = checkOffset(fn, 'state.offset', state.offset);
    this._seed = seed;
    return this;
  }

  /**
   * @internal Hands out `count` words: the (seed, offset) a call reads from, and moves the
   * offset past them, rounded up to a multiple of 4 (the next call starts on a fresh block).
   */
  draw(fn: string, count: number): GeneratorState {
    const state = { seed: this._seed, offset: this._offset };
    const next = this._offset + Math.ceil(count / 4) * 4;
    if (next >= LIMIT) throw rangeError(fn, `the generator's offset would pass 2^53 (seed it again with manualSeed)`);
    this._offset = next;
    return state;
  }
}

const generators = new Map<Device, RandomGenerator>();
let seedForNew = DEFAULT_SEED;

/** The default generator of a device (made on first use, seeded by the last manualSeed). */
export function defaultGenerator(device: DeviceLike = 'cpu'): RandomGenerator {
  const d = checkDevice('defaultGenerator', device);
  let g = generators.get(d);
  if (g === undefined) {
    g = new RandomGenerator(seedForNew);
    generators.set(d, g);
  }
  return g;
}

/**
 * Seeds the default generator of every device, those made later included, and starts each
 * stream from its beginning (torch.manual_seed). After it, the same calls give the same
 * dropout masks, on the CPU and on a GPU.
 */
export function manualSeed(seed: number): void {
  seedForNew = checkSeed('manualSeed', 'seed', seed);
  for (const g of generators.values()) g.manualSeed(seed);
}
