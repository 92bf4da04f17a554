// The fused cross-entropy against PyTorch autograd in float64 on the timm fixtures: the mean
// loss of the stored logits' head against the stored labels, and the head's weight and bias
// gradients (the last layer of the fixtures' d loss / d parameter), on every device.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { backward, crossEntropy, Device, linear } from '../ts/index';
import { entryToTensor, readSafetensors } from '../ts/io/safetensors';
import { DEVICES, assertClose, describeDevice, host, requireFixtures } from './helpers';

const SETS = ['vit_tiny', 'vit_tiny_sparse', 'vit_notebook', 'vit_notebook_sparse'];
const files = (set: string) => [`${set}.weights.safetensors`, `${set}.io.safetensors`, `${set}.grads.safetensors`];

for (const device of DEVICES) {
  describeDevice(device, 'crossEntropy against the timm fixtures', () => {
    for (const set of SETS) {
      it(`${set}: the mean loss of the head's logits and the head's gradients match PyTorch's float64 (relative 1e-4)`, async function () {
        const dir = requireFixtures(this, files(set));
        const [weights, io, grads] = await Promise.all(files(set).map((f) => readSafetensors(path.join(dir, f))));
        const at = (st: typeof weights, name: string, dev: Device = device) => entryToTensor(st.tensors.get(name)!, { device: dev });
        const w = at(weights, 'head.weight').requiresGrad_();
        const b = at(weights, 'head.bias').requiresGrad_();
        const features = at(io, 'pre_logits');
        const labels = at(grads, 'labels');
        assert.equal(labels.dtype, 'int32');
        const loss = crossEntropy(linear(features, w, b), labels);
        assertClose(host(loss), host(at(grads, 'loss', 'cpu')), 1e-5, `${set} loss`);
        backward(loss);
        assertClose(host(w.grad!), host(at(grads, 'head.weight', 'cpu')), 1e-4, `${set} head.weight gradient`);
        assertClose(host(b.grad!), host(at(grads, 'head.bias', 'cpu')), 1e-4, `${set} head.bias gradient`);
        for (const t of [w, b, features, labels, loss]) t.dispose();
      });
    }
  });
}
