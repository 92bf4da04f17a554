// What every test file shares: the devices to run on (CUDA cases skip without a GPU, and
// fail instead under NODEFORMERS_REQUIRE_CUDA=1), the timm fixtures (skipped with a line
// saying what is missing), tolerances that mean something, poison.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ActivationSpec, backends, Device, DType, empty, gradcheck, Tensor } from '../ts/index';
import type { ActivationParams } from './reference';
import { native } from '../ts/native';

export const REQUIRE_CUDA = process.env.NODEFORMERS_REQUIRE_CUDA === '1';
export const DEVICES: Device[] = ['cpu', 'cuda:0'];

/** The CI's fuller fixture set: ../shared/fixtures, or where NODEFORMERS_FIXTURES points (the GPU machine carries them). */
export const FIXTURES = process.env.NODEFORMERS_FIXTURES ?? path.join(__dirname, '..', '..', 'shared', 'fixtures');

/** Where fixtures are looked for, in order: the small set committed beside the tests (a fresh clone has it), then FIXTURES. */
export const FIXTURE_DIRS: readonly string[] = [path.join(__dirname, 'fixtures'), FIXTURES];

/** The first of FIXTURE_DIRS that holds every one of the files, or null. */
export function findFixtures(files: readonly string[]): string | null {
  return FIXTURE_DIRS.find((dir) => files.every((f) => fs.existsSync(path.join(dir, f)))) ?? null;
}

const saidMissing = new Set<string>();

/**
 * The directory holding the fixture files; without one it prints one line naming what is
 * missing (once a run for each set of files) and skips the test, or the suite from a hook.
 */
export function requireFixtures(ctx: Mocha.Context, files: readonly string[]): string {
  const dir = findFixtures(files);
  if (dir !== null) return dir;
  const what = files.join(', ');
  if (!saidMissing.has(what)) {
    saidMissing.add(what);
    console.log(`      (skipping: timm fixtures ${what} are in none of ${FIXTURE_DIRS.join(', ')}; ` +
      'tools/make-test-fixtures.py makes the small set, NODEFORMERS_FIXTURES names another folder)');
  }
  return ctx.skip() as never;
}

/**
 * Whether the optional package sharp (image decoding) loads. The device machine's pack leaves
 * out its libvips binaries (tools/gpu-prep.sh: they would not fit the 64 MiB a call carries),
 * so the CPU cases that decode images skip there with this reason; no CUDA case needs it.
 */
export const HAS_SHARP = (() => {
  try {
    require('sharp');
    return true;
  } catch {
    return false;
  }
})();

/** For a before() hook: skips the suite where sharp is not installed, saying so. */
export function skipWithoutSharp(ctx: Mocha.Context): void {
  if (!HAS_SHARP) ctx.skip();
}

/** Each test file's one pending line for its CUDA suites where they cannot run, by file. */
const cudaNotRun = new Map<string, Mocha.Test>();

/** The test file that called describeDevice (the first stack frame outside this file). */
function callerFile(): string {
  const frames = (new Error().stack ?? '').split('\n').slice(1);
  const frame = frames.find((f) => /\.test\.ts/.test(f) && !f.includes(__filename)) ?? '';
  const file = /\(?((?:file:\/\/)?\/[^():]+)/.exec(frame)?.[1]?.replace(/^file:\/\//, '') ?? 'a test file';
  return path.relative(path.join(__dirname, '..'), file);
}

/**
 * describe() for one device. Without a GPU, a file's CUDA suites are not registered: the
 * file gets one pending case saying why and how many suites wait for a GPU (npm run
 * test:cuda, NODEFORMERS_REQUIRE_CUDA=1, registers and runs every one, failing without CUDA).
 */
export function describeDevice(device: Device, title: string, body: () => void): void {
  if (device !== 'cpu' && !REQUIRE_CUDA && !backends().includes('cuda')) {
    const file = callerFile();
    const pending = cudaNotRun.get(file);
    if (pending === undefined) {
      const why = native().buildInfo.cuda ? 'no GPU found' : 'built without CUDA';
      cudaNotRun.set(file, it(`${file}: 1 CUDA suite not run (${why}; npm run test:cuda runs them on a GPU)`));
    } else {
      const n = Number(/: (\d+) CUDA suite/.exec(pending.title)![1]) + 1;
      pending.title = pending.title.replace(/: \d+ CUDA suites? /, `: ${n} CUDA suites `);
    }
    return;
  }
  describe(`${title} [${device}]`, function () {
    before(function () {
      if (device === 'cpu' || backends().includes('cuda')) return;
      throw new Error('NODEFORMERS_REQUIRE_CUDA=1 but no CUDA backend or GPU is available');
    });
    body();
  });
}

/** Per-dtype relative tolerances for float32-accumulated results against float64. */
export const TOLERANCE: Record<DType, number> = { float32: 1e-5, float16: 2e-3, bfloat16: 1.6e-2, int32: 0, uint8: 0 };

/** ‖a − b‖ / ‖b‖ (with ‖b‖ = 0 giving ‖a‖); NaN anywhere gives Infinity. */
export function relativeError(actual: ArrayLike<number>, reference: ArrayLike<number>): number {
  assert.equal(actual.length, reference.length, 'length mismatch');
  let num = 0;
  let den = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const r = reference[i];
    if (Number.isNaN(a) || Number.isNaN(r)) return Infinity;
    num += (a - r) ** 2;
    den += r * r;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

export function assertClose(actual: ArrayLike<number>, reference: ArrayLike<number>, tolerance: number, label = ''): void {
  const err = relativeError(actual, reference);
  if (!(err <= tolerance)) {
    let first = -1;
    for (let i = 0; i < actual.length && first < 0; i++) {
      if (!(Math.abs(actual[i] - reference[i]) <= tolerance * Math.max(1, Math.abs(reference[i])))) first = i;
    }
    assert.fail(`${label} relative error ${err.toExponential(3)} > ${tolerance}` +
      (first >= 0 ? `; first mismatch at ${first}: ${actual[first]} vs ${reference[first]}` : ''));
  }
}

/** Fills a tensor with NaN (floats) or a sentinel, so an element the op leaves unwritten fails. */
export function poison(t: Tensor): void {
  native().fill(t, t.dtype === 'int32' ? -123456 : t.dtype === 'uint8' ? 0xcd : NaN);
}

/** Fresh seeds for every run: a failing seed is printed by the test's label. */
export function freshSeed(): number {
  return (Math.random() * 2 ** 31) >>> 0;
}

/** A tensor's float values (every float dtype reads back as a Float32Array). */
export const host = (t: Tensor) => t.dataSync() as Float32Array;

/** An uninitialized output, poisoned. */
export function poisoned(shape: readonly number[], dtype: DType, device: Device): Tensor {
  const t = empty(shape, { dtype, device });
  poison(t);
  return t;
}

/** Awkward last dims (1, 12, 96, 97, 768, 4099), N = 197 rows, an empty leading dim, 1-D and 3-D. */
export const AWKWARD_SHAPES = [[197, 1], [197, 12], [197, 96], [197, 97], [197, 768], [3, 4099], [0, 96], [96], [2, 197, 96]];

/** Every activation, with its defaults and with non-default parameters. */
export interface ActivationVariant { label: string; spec: ActivationSpec; name: string; params: ActivationParams }
export const ACTIVATION_VARIANTS: ActivationVariant[] = [
  { label: 'none', spec: 'none', name: 'none', params: {} },
  { label: 'relu', spec: 'relu', name: 'relu', params: {} },
  { label: 'gelu', spec: 'gelu', name: 'gelu', params: {} },
  { label: 'gelu_tanh', spec: 'gelu_tanh', name: 'gelu_tanh', params: {} },
  { label: 'leaky_relu', spec: 'leaky_relu', name: 'leaky_relu', params: {} },
  { label: 'leaky_relu slope 0.2', spec: { name: 'leaky_relu', slope: 0.2 }, name: 'leaky_relu', params: { slope: 0.2 } },
  { label: 'squared_relu', spec: 'squared_relu', name: 'squared_relu', params: {} },
  { label: 'smelu', spec: 'smelu', name: 'smelu', params: {} },
  { label: 'smelu beta 0.5', spec: { name: 'smelu', beta: 0.5 }, name: 'smelu', params: { beta: 0.5 } },
  { label: 'star_relu', spec: 'star_relu', name: 'star_relu', params: {} },
  { label: 'star_relu scale 1.5 bias 0.25', spec: { name: 'star_relu', scale: 1.5, bias: 0.25 }, name: 'star_relu', params: { scale: 1.5, bias: 0.25 } },
];

/** A test named `name` holding gradcheck(f, inputs) (float64 finite differences, CPU); the inputs are disposed after. */
export function itGradchecks(name: string, f: (...t: Tensor[]) => Tensor, inputs: Tensor[]): void {
  it(name, () => {
    try {
      assert.equal(gradcheck(f, inputs), true);
    } finally {
      for (const t of inputs) t.dispose();
    }
  });
}
