// bench's section 6: every attention mechanism as one layer, forward and forward + backward.
import * as assert from 'node:assert/strict';
import { registerAttention } from '../ts/index';
import { benchMechanisms, MECHANISMS_SUITE } from '../ts/bench/suite/mechanisms';

describe('bench: the attention mechanisms side by side', () => {
  it('times each mechanism forward and forward + backward, and lists what fails as skipped', () => {
    registerAttention('bench_refuses', {
      notSupportedReasons: () => [],
      forward: () => { throw new Error('never called'); },
      createModule: (fn) => { throw new RangeError(`${fn}: bench_refuses takes nothing`); },
    });
    const lines: string[] = [];
    const r = benchMechanisms({
      device: 'cpu', dtype: 'float32', quick: true, minRunTime: 0.01, mechanisms: ['vanilla', 'memory_efficient', 'bench_refuses'], log: (l) => lines.push(l),
    });
    assert.equal(r.measurements.length, 4);
    for (const m of r.measurements) {
      assert.equal(m.params.suite, MECHANISMS_SUITE);
      assert.equal(m.params.N, 64);
      assert.ok(m.median > 0 && m.times.length >= 3, `${m.subLabel} ${m.params.kind} was timed`);
    }
    assert.deepEqual(r.measurements.map((m) => `${m.subLabel} ${m.params.kind}`), ['vanilla forward', 'vanilla f+b', 'memory_efficient forward', 'memory_efficient f+b']);
    assert.deepEqual(r.skipped, ['bench_refuses N=64: failed: MultiHeadAttention: bench_refuses takes nothing']);
    assert.equal(lines.length, 2);
  });
});
