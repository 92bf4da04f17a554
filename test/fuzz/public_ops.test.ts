// The public-op fuzz: seeded random calls of the public ops with valid and invalid arguments
// (test/fuzz/op_builders.ts makes them). Every invalid call must throw an Error naming the
// function; every valid one must match the float64 reference. The seed is printed;
// NODEFORMERS_FUZZ_SEED replays one.
import * as assert from 'node:assert/strict';
import * as nf from '../../ts/index';
import type { Device, Tensor } from '../../ts/index';
import { liveStorage } from '../../ts/tensor';
import { DEVICES, TOLERANCE, describeDevice } from '../helpers';
import { BUILDERS, Call, Gen } from './op_builders';
import { Rng, SEED, describeError } from './rng';

const CALLS = 2000;

/** ‖a − r‖ ≤ tol · max(‖r‖, √n): relative to the reference, or to unit-sized values when it cancels to nearly nothing. */
function closeEnough(actual: ArrayLike<number>, reference: ArrayLike<number>, tol: number): string | null {
  if (actual.length !== reference.length) return `${actual.length} values, expected ${reference.length}`;
  let num = 0;
  let den = 0;
  for (let i = 0; i < actual.length; i++) {
    if (Number.isNaN(actual[i]) !== Number.isNaN(reference[i])) return `element ${i}: ${actual[i]} vs ${reference[i]}`;
    if (Number.isNaN(actual[i])) continue;
    num += (actual[i] - reference[i]) ** 2;
    den += reference[i] ** 2;
  }
  const err = Math.sqrt(num) / Math.max(Math.sqrt(den), Math.sqrt(actual.length), 1e-30);
  return err <= tol ? null : `relative error ${err.toExponential(3)} > ${tol}`;
}

function otherDevice(device: Device): Device | null {
  if (!nf.backends().includes('cuda')) return null;
  return device === 'cpu' ? 'cuda:0' : 'cpu';
}
for (const device of DEVICES) {
  describeDevice(device, 'fuzz', () => {
    it(`${CALLS} random calls of the public ops: every invalid one throws an Error naming the function, every valid one matches float64`, function () {
      const seed = SEED + (device === 'cpu' ? 0 : 1);
      console.log(`      fuzz seed ${seed} (replay: NODEFORMERS_FUZZ_SEED=${SEED})`);
      const rng = new Rng(seed);
      const g = new Gen(rng, device, otherDevice(device));
      if (device !== 'cpu') nf.cuda.synchronize(device); // earlier tests' frees are stream-ordered
      const before = device === 'cpu' ? null : nf.cuda.memory(device).allocated;
      let storagesBefore = liveStorage().storages;
      const counts = { valid: 0, invalid: 0 };
      const perOp = new Map<string, { valid: number; invalid: number }>();
      const failures: string[] = [];
      for (let i = 0; i < CALLS; i++) {
        const [name, build] = rng.pick(BUILDERS);
        const invalid = rng.chance(0.5);
        let call: Call;
        try {
          call = build(g, invalid);
        } catch (e) {
          g.free();
          throw new Error(`fuzz call ${i} (${name}): building the case failed: ${describeError(e)}`);
        }
        const label = `call ${i} ${call.op}${call.bad ? ` (${call.bad})` : ''} ${call.dtype}`;
        const tally = perOp.get(call.op) ?? { valid: 0, invalid: 0 };
        perOp.set(call.op, tally);
        let result: unknown;
        let thrown: unknown = null;
        let threw = false;
        try {
          result = call.run();
        } catch (e) {
          threw = true;
          thrown = e;
        }
        if (call.bad !== null) {
          counts.invalid++;
          tally.invalid++;
          if (!threw) failures.push(`${label}: did not throw`);
          else if (!(thrown instanceof Error)) failures.push(`${label}: threw ${describeError(thrown)}`);
          else if (!thrown.message.includes(`${call.op}:`) || thrown.message.length < call.op.length + 12) {
            failures.push(`${label}: the message does not name the function and the problem: ${describeError(thrown)}`);
          }
        } else {
          counts.valid++;
          tally.valid++;
          if (threw) failures.push(`${label}: a valid call threw ${describeError(thrown)}`);
          else if (call.reference) {
            const out = result as Tensor;
            const expected = call.reference();
            if (out.shape.join() !== expected.shape.join()) failures.push(`${label}: shape [${out.shape}] expected [${expected.shape}]`);
            else if (out.dtype !== call.dtype) failures.push(`${label}: dtype ${out.dtype} expected ${call.dtype}`);
            else {
              const why = closeEnough(out.dataSync(), expected.out, TOLERANCE[call.dtype]);
              if (why) failures.push(`${label}: ${why}`);
            }
          }
        }
        if (result && typeof result === 'object' && 'dispose' in result) (result as Tensor).dispose();
        g.free();
        // A call that throws must not leave what it allocated to the garbage collector.
        const storagesNow = liveStorage().storages;
        if (storagesNow > storagesBefore) failures.push(`${label}: left ${storagesNow - storagesBefore} storage(s) alive${threw ? ` after throwing ${describeError(thrown)}` : ''}`);
        storagesBefore = Math.min(storagesBefore, storagesNow); // an earlier test's garbage collected meanwhile
        if (failures.length >= 10) break;
      }
      const table = [...perOp.entries()].sort().map(([op, c]) => `${op} ${c.valid}/${c.invalid}`).join(', ');
      console.log(`      ${counts.valid} valid, ${counts.invalid} invalid calls (valid/invalid by op: ${table})`);
      assert.deepEqual(failures, [], `seed ${seed}`);
      assert.ok(counts.valid >= 600 && counts.invalid >= 600, `too few valid (${counts.valid}) or invalid (${counts.invalid}) calls`);
      if (before !== null) {
        nf.cuda.synchronize(device);
        assert.equal(nf.cuda.memory(device).allocated, before, 'every tensor of the fuzz (and of its failed calls) was freed');
      }
    });
  });
}
