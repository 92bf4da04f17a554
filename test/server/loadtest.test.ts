// The load test's short CI run (examples/server/loadtest.ts): autocannon against the server
// with a tiny model for about 3 s; every request is answered, 200 or (queue full) 503 only.
import * as assert from 'node:assert/strict';
import { formatResult, runLoadTest } from '../../examples/server/loadtest';
import { HAS_SHARP } from '../helpers';
import { tinyPretrainedDir } from '../models/pretrained_dir';

const HAS_AUTOCANNON = (() => {
  try {
    require.resolve('autocannon');
    return true;
  } catch {
    return false;
  }
})();

describe('server: the load test (autocannon, 3 s)', function () {
  this.timeout(60000);

  before(function () {
    if (!HAS_SHARP || !HAS_AUTOCANNON) {
      console.log(`      (skipping: the load test needs ${[!HAS_SHARP && 'sharp', !HAS_AUTOCANNON && 'autocannon'].filter(Boolean).join(' and ')} (devDependencies; npm install))`);
      this.skip();
    }
  });

  it('serves requests with no errors, only 200 and 503, and the server exits 0 after SIGTERM', async () => {
    // 12 connections against a queue of 8: some 503s are allowed, nothing else.
    const r = await runLoadTest({ model: await tinyPretrainedDir(3), duration: 3, connections: 12, maxQueue: 8, maxBatch: 4, width: 320, height: 240 });
    const report = formatResult(r);
    assert.ok((r.statusCodes['200'] ?? 0) > 20, report);
    assert.deepEqual(Object.keys(r.statusCodes).filter((c) => c !== '200' && c !== '503'), [], report);
    assert.equal(r.errors, 0, report);
    assert.equal(r.timeouts, 0, report);
    // autocannon stops counting at the deadline; answers still on their way count on the server only.
    assert.ok(r.server.responses['200'] >= r.statusCodes['200'] && r.server.responses['200'] <= r.statusCodes['200'] + 12, report);
    assert.ok(r.server.batches > 0 && r.server.meanBatchSize >= 1, report);
    assert.ok(r.server.eventLoopDelayMs.p99 >= 0, report);
    assert.equal(r.exitCode, 0, report);
  });
});
