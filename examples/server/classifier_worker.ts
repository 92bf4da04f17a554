// The model's worker thread (classifier.ts, engine 'worker'): loads the model, then answers
// each batch of rows with its classes.
import { parentPort, workerData } from 'node:worker_threads';
import type { WorkerReply } from './classifier';
import { classifyRows, loadModel, ModelSpec } from './model';

type Request = { type: 'classify'; id: number; rows: Float32Array; count: number; topk: number } | { type: 'close' };

const port = parentPort!;
const post = (m: WorkerReply) => port.postMessage(m);

loadModel(workerData.spec as ModelSpec).then(({ model, info }) => {
  post({ type: 'ready', info });
  port.on('message', (m: Request) => {
    if (m.type === 'close') {
      model.dispose();
      port.close();
      return;
    }
    classifyRows(model, info, m.rows, m.count, m.topk).then(
      (results) => post({ type: 'result', id: m.id, results }),
      (e: Error) => post({ type: 'error', id: m.id, message: e.message }));
  });
}, (e: Error) => {
  post({ type: 'failed', message: e.message });
  port.close();
});
