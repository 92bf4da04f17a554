// The README's mechanism in CUDA source (examples/custom_attention/naive_cuda.ts): the README
// shows that file as it is; without a GPU it says why it cannot serve and its CUDA source
// compiles with NVRTC where NVRTC is found; on CUDA its forward and its gradients (a customOp
// over two backward kernels) match vanilla attention, pass gradcheck, and a ViT uses it by name.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { attention, attentionMechanisms, backward, buildViT, gradcheck, randn, Tensor, ViTConfig } from '../../ts/index';
import { compileImage } from '../../ts/kernels/compile';
import { native } from '../../ts/native';
import { SIGNATURES, SOURCE } from '../../examples/custom_attention/naive_cuda';
import { assertClose, describeDevice, host } from '../helpers';

const ROOT = path.join(__dirname, '..', '..');
const dev = 'cuda:0';

describe('the README mechanism in CUDA source (no GPU needed)', () => {
  it('README.md shows examples/custom_attention/naive_cuda.ts as it is (imports from nodeformers)', () => {
    const file = fs.readFileSync(path.join(ROOT, 'examples', 'custom_attention', 'naive_cuda.ts'), 'utf8');
    const code = file.slice(file.indexOf('import ')).replace("from '../../ts/index'", "from 'nodeformers'");
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### A mechanism in CUDA source'));
    const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(block, 'README.md has a "### A mechanism in CUDA source" section with a ts block');
    assert.equal(block, code);
  });

  it("is registered by name, and on the CPU attention() lists why it cannot serve", () => {
    assert.ok(attentionMechanisms().includes('naive_cuda'));
    const q = randn([1, 4, 2, 8]);
    assert.throws(() => attention(q, q, q, { mechanism: 'naive_cuda', causal: true }),
      /attention: mechanism 'naive_cuda' cannot serve these inputs .*\n {2}- its kernels are CUDA source: q must be on a CUDA device\n {2}- no mask, bias or causal rule/);
    q.dispose();
  });

  it('its three kernels compile with NVRTC for sm_90', function () {
    if (!native().nvrtcInfo().available) this.skip();
    for (const name of Object.keys(SIGNATURES)) {
      const r = compileImage('test', SOURCE, name, [], 90, false);
      assert.equal(r.entry.loweredName, name);
      assert.equal(r.entry.log, '', `${name} compiles without warnings`);
    }
  });
});

/** q, k, v on the GPU, requiring grad, and their CPU copies. */
function inputs(qShape: number[], kShape: number[], seed: number): Tensor[] {
  return [qShape, kShape, kShape].map((s, i) => randn(s, { seed: seed + i, device: dev }).requiresGrad_());
}

describeDevice(dev, 'the README mechanism in CUDA source', () => {
  before(function () {
    if (!native().nvrtcInfo().available) this.skip();
  });

  const cases: [string, number[], number[]][] = [
    ['self-attention B2 N37 H3 D16', [2, 37, 3, 16], [2, 37, 3, 16]],
    ['Nq 5, Nk 70, D 8', [1, 5, 2, 8], [1, 70, 2, 8]],
    ['N 1, D 1', [3, 1, 1, 1], [3, 1, 1, 1]],
    ['N 197, D 64, more keys than a block has threads', [1, 197, 2, 64], [1, 197, 2, 64]],
  ];
  for (const [label, qShape, kShape] of cases) {
    it(`forward and gradients match vanilla attention: ${label}`, () => {
      const [q, k, v] = inputs(qShape, kShape, qShape[1]);
      const out = attention(q, k, v, { mechanism: 'naive_cuda' });
      const g = randn(out.shape, { seed: 99, device: dev });
      backward(out, g);
      const mine = [q.grad, k.grad, v.grad].map((t) => host(t as Tensor));
      const [q2, k2, v2] = [q, k, v].map((t) => t.detach().requiresGrad_());
      const ref = attention(q2, k2, v2, { mechanism: 'vanilla', precision: 'highest' });
      backward(ref, g);
      assertClose(host(out), host(ref), 1e-5, `${label} forward`);
      ['dq', 'dk', 'dv'].forEach((name, i) => assertClose(mine[i], host([q2, k2, v2][i].grad as Tensor), 1e-4, `${label} ${name}`));
      for (const t of [q, k, v, q2, k2, v2, out, ref, g]) t.dispose();
    });
  }

  it('passes gradcheck (finite differences) for q, k and v', () => {
    const [q, k, v] = inputs([1, 6, 2, 4], [1, 9, 2, 4], 5);
    assert.equal(gradcheck((a, b, c) => attention(a, b, c, { mechanism: 'naive_cuda' }), [q, k, v]), true);
    for (const t of [q, k, v]) t.dispose();
  });

  it('a ViT uses it by name, with the logits of the same ViT on vanilla attention', () => {
    const config: ViTConfig = { img_size: 32, patch_size: 8, embed_dim: 32, depth: 2, num_heads: 2, num_classes: 5 };
    const ours = buildViT({ ...config, attention: { mechanism: 'naive_cuda' } }, { seed: 4, device: dev });
    const theirs = buildViT({ ...config, attention: { mechanism: 'vanilla', precision: 'highest' } }, { seed: 4, device: dev });
    const x = randn([2, 3, 32, 32], { seed: 8, device: dev });
    const a = ours.forward(x);
    const b = theirs.forward(x);
    assertClose(host(a), host(b), 1e-4, 'ViT logits');
    for (const t of [x, a, b]) t.dispose();
    ours.dispose();
    theirs.dispose();
  });
});
