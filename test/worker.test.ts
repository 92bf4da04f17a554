import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { DEVICES, describeDevice } from './helpers';

// The addon keeps its state per context (Napi::Addon instance data), so it loads in
// several worker threads at once and each gets its own backends.
const script = `
const { parentPort, workerData } = require('node:worker_threads');
require('tsx/cjs');
const nf = require(workerData.index);
const t = nf.tensor([1, 2, 3, 4], [2, 2], { device: workerData.device, dtype: 'float16' });
const back = Array.from(t.transpose().dataSync());
t.dispose();
parentPort.postMessage(back);
`;

for (const device of DEVICES) {
  describeDevice(device, 'worker_threads', () => {
    it('the addon loads in 4 workers at once and each computes correctly', async () => {
      const index = path.join(__dirname, '..', 'ts', 'index.ts');
      const results = await Promise.all([0, 1, 2, 3].map(() => new Promise<number[]>((resolve, reject) => {
        const w = new Worker(script, { eval: true, workerData: { index, device } });
        w.once('message', resolve);
        w.once('error', reject);
      })));
      for (const r of results) assert.deepEqual(r, [1, 3, 2, 4]);
    });
  });
}
