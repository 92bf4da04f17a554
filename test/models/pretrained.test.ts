import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildViT, createModel, loadPretrained, loadTimmViT, saveSafetensors, tensor, Tensor, ViTConfig } from '../../ts/index';
import { PRETRAINED_LABELS as LABELS, SMALL_DEIT as SMALL, writePretrainedDir as writeDir } from './pretrained_dir';

const image = () => tensor(Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => Math.cos(i * 0.37)), [2, 3, 32, 32]);

describe('pretrained directories (loadPretrained)', () => {
  it('loads the weights, the preprocessing and the labels of a timm directory', async () => {
    const source = buildViT({ embed_dim: 192, num_heads: 3, ...SMALL }, { seed: 11 });
    const dir = await writeDir({ weights: source.parameters() });
    const { model, preprocess, labels, architecture } = await loadPretrained(dir);
    const x = image();
    try {
      assert.equal(architecture, 'deit_tiny_patch16_224');
      assert.deepEqual(labels, LABELS);
      assert.deepEqual(preprocess, { input_size: [3, 32, 32], interpolation: 'bilinear', crop_pct: 0.95, mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3] });
      assert.equal(model.preprocess, preprocess);
      assert.equal(model.labels, labels);
      assert.deepEqual(Array.from(model.forward(x).dataSync()), Array.from(source.forward(x).dataSync()));
      const byName = await createModel('deit_tiny_patch16_224', { pretrained: dir });
      assert.deepEqual(Array.from(byName.forward(x).dataSync()), Array.from(source.forward(x).dataSync()));
      byName.dispose();
      await assert.rejects(createModel('vit_tiny_patch16_224', { pretrained: dir }), /createModel: 'vit_tiny_patch16_224' was asked for, but .*config.json holds 'deit_tiny_patch16_224'/);
    } finally {
      x.dispose();
      model.dispose();
      source.dispose();
    }
  });

  it('label_names may be an object from index to name; dtype and attention options apply', async () => {
    const source = buildViT({ embed_dim: 192, num_heads: 3, ...SMALL }, { seed: 5 });
    const dir = await writeDir({ weights: source.parameters(), config: { label_names: { 0: 'w', 1: 'x', 2: 'y', 3: 'z' } } });
    const { model, labels } = await loadPretrained(dir, { dtype: 'float16', attention: { mechanism: 'vanilla' } });
    assert.deepEqual(labels, ['w', 'x', 'y', 'z']);
    assert.equal(model.parameters().get('pos_embed')!.dtype, 'float16');
    assert.equal(model.config.attention.mechanism, 'vanilla');
    model.dispose();
    source.dispose();
  });

  it("without pretrained_cfg or label_names: timm's default preprocessing of the architecture, no labels", async () => {
    const source = buildViT({ embed_dim: 192, num_heads: 3, ...SMALL }, { seed: 2 });
    const dir = await writeDir({ weights: source.parameters(), config: { label_names: undefined, pretrained_cfg: undefined, model_args: { img_size: 32, depth: 1 } } });
    await assert.rejects(loadPretrained(dir), /pretrained_cfg.input_size \[3, 224, 224\] does not match img_size 32/);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, pretrained_cfg: { input_size: [3, 32, 32] } }));
    const { model, preprocess, labels } = await loadPretrained(dir);
    assert.equal(labels, null);
    assert.deepEqual(preprocess, { input_size: [3, 32, 32], interpolation: 'bicubic', crop_pct: 0.875, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
    model.dispose();
    source.dispose();
  });

  it('a pytorch_model.bin alone is refused: pickles are not loaded, convert to safetensors', async () => {
    const dir = await writeDir();
    fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), 'PK pickle');
    await assert.rejects(loadPretrained(dir), /loadPretrained: '.*' has pytorch_model.bin but no model.safetensors: pickles are not loaded .*convert to safetensors, e.g. python -c/);
    fs.unlinkSync(path.join(dir, 'pytorch_model.bin'));
    await assert.rejects(loadPretrained(dir), /has no model.safetensors$/);
    fs.unlinkSync(path.join(dir, 'config.json'));
    await assert.rejects(loadPretrained(dir), /has no config.json: a timm model directory as Hugging Face lays it out holds config.json and model.safetensors/);
    await assert.rejects(loadPretrained(path.join(dir, 'nope')), /loadPretrained: cannot read the directory/);
    await assert.rejects(loadPretrained(3 as never), /loadPretrained: expected dir to be a directory path/);
  });

  it('bad config.json contents say what is wrong', async () => {
    const source = buildViT({ embed_dim: 192, num_heads: 3, ...SMALL }, { seed: 2 });
    const cases: [object, RegExp][] = [
      [{ architecture: 'resnet50' }, /unknown model 'resnet50'/],
      [{ architecture: undefined }, /has no "architecture"/],
      [{ label_names: ['a', 'b'] }, /label_names has 2 names but num_classes is 4/],
      [{ label_names: { 0: 'a', 1: 'b' } }, /label_names is not a list of strings \(or an object from each index to a name\)/],
      [{ pretrained_cfg: { input_size: [3, 32, 32], crop_mode: 'squash' } }, /crop_mode 'squash' is not supported/],
      [{ pretrained_cfg: { input_size: [3, 32, 32], interpolation: 'lanczos' } }, /pretrained_cfg\).*interpolation/],
    ];
    for (const [config, re] of cases) {
      const dir = await writeDir({ weights: source.parameters(), config });
      await assert.rejects(loadPretrained(dir), re);
    }
    source.dispose();
  });
});

describe('loader errors: counts, the first few names, hints', () => {
  const config: ViTConfig = { embed_dim: 24, num_heads: 2, img_size: 32, patch_size: 16, depth: 2, num_classes: 3 };
  async function save(weights: Map<string, Tensor> | Record<string, Tensor>): Promise<string> {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nf-loaderr-')), 'w.safetensors');
    await saveSafetensors(file, weights);
    return file;
  }

  it("every key prefixed 'module.': counts, five names then how many more, and the prefix named", async () => {
    const model = buildViT(config, { seed: 1 });
    const file = await save(Object.fromEntries([...model.parameters()].map(([k, v]) => [`module.${k}`, v])));
    const n = model.parameters().size;
    await assert.rejects(loadTimmViT(file, config), (e: Error) => {
      assert.match(e.message, new RegExp(`^loadTimmViT: the checkpoint \\(${n} tensors\\) does not fit the model \\(${n} parameters\\): ${n} missing, ${n} unexpected\\n`));
      assert.match(e.message, new RegExp(`missing \\(${n}\\): (\\S+, ){5}… \\(${n - 5} more\\)`));
      assert.match(e.message, new RegExp(`hints: ${n} of the unexpected keys start with 'module.' and name parameters without it: strip the prefix`));
      assert.ok(e.message.split('\n').every((line) => line.length < 400), 'no line lists every key');
      return true;
    });
    model.dispose();
  });

  it('a transposed Linear weight and a config that does not match the checkpoint are named', async () => {
    const model = buildViT(config, { seed: 1 });
    const weights = new Map(model.parameters());
    const w = weights.get('blocks.0.mlp.fc1.weight')!;
    weights.set('blocks.0.mlp.fc1.weight', w.transpose(0, 1).contiguous());
    await assert.rejects(loadTimmViT(await save(weights), config),
      /wrong shape \(1\): blocks.0.mlp.fc1.weight model \[96, 24\] checkpoint \[24, 96\][\s\S]*hints: blocks.0.mlp.fc1.weight: the checkpoint holds the transpose/);
    const wide = buildViT({ ...config, embed_dim: 48, depth: 3 }, { seed: 1 });
    await assert.rejects(loadTimmViT(await save(wide.parameters()), config), (e: Error) => {
      assert.match(e.message, /embed_dim 24 but the checkpoint has 48/);
      assert.match(e.message, /depth 2 but the checkpoint has 3/);
      assert.doesNotMatch(e.message, /num_classes|patch_size/);
      return true;
    });
    model.dispose();
    wide.dispose();
  });
});
