// `nodeformers classify`: images generated here (sharp), a tiny timm directory written here;
// the answers are the library's classify, printed aligned or as JSON; a failure while
// running is one line and exit code 1, never a stack trace. The command lines that cannot
// run at all are in test/cli.test.ts.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { backends, buildViT, classify, loadPretrained, tensor, zeros } from '../ts/index';
import { closeNames, ImageClassification } from '../ts/cli/classify';
import { cli, CliResult } from './cli_run';
import { skipWithoutSharp } from './helpers';
import { PRETRAINED_LABELS as LABELS, SMALL_DEIT as SMALL, writePretrainedDir } from './models/pretrained_dir';

/** A failure while running: exactly one line on stderr, nothing on stdout, exit code 1. */
function assertFailure(r: CliResult, line: string | RegExp): void {
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.split('\n').length, 2, `more than one line:\n${r.stderr}`);
  if (typeof line === 'string') assert.equal(r.stderr, `${line}\n`);
  else assert.match(r.stderr, line);
}

/** Float32 softmax of the whole row sums to 1 within a rounding; the top k of it to no more. */
const ONE = 1 + 1e-6;

describe('cli classify: close model names', () => {
  it('names that contain the given one, or a few edits away, nearest first; none for a stranger', () => {
    assert.deepEqual(closeNames('vit_base_patch16_244', ['deit_base_patch16_224', 'vit_base_patch16_224', 'vit_huge_patch14_224']),
      ['vit_base_patch16_224', 'deit_base_patch16_224']);
    assert.deepEqual(closeNames('ViT-Tiny', ['vit_tiny_patch16_384', 'vit_tiny_patch16_224', 'deit_tiny_patch16_224']),
      ['vit_tiny_patch16_224', 'vit_tiny_patch16_384']);
    assert.deepEqual(closeNames('resnet50', ['vit_base_patch16_224', 'deit_tiny_patch16_224']), []);
  });
});

describe('cli classify: images through a model', function () {
  this.timeout(120000);
  let work = '';
  let files: string[] = [];
  let dir = '';

  before(async function () {
    skipWithoutSharp(this);
    const { default: sharp } = await import('sharp');
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-cli-classify-'));
    const noise = Buffer.from(Array.from({ length: 50 * 37 * 3 }, (_, i) => (i * 2654435761) >>> 24));
    files = [path.join(work, 'red.png'), path.join(work, 'noise.jpg'), path.join(work, 'gradient.webp')];
    await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 220, g: 30, b: 20 } } }).png().toFile(files[0]);
    await sharp(noise, { raw: { width: 50, height: 37, channels: 3 } }).jpeg().toFile(files[1]);
    const ramp = Buffer.from(Array.from({ length: 33 * 64 * 3 }, (_, i) => Math.floor(((i / 3) % 64) * 4)));
    await sharp(ramp, { raw: { width: 64, height: 33, channels: 3 } }).webp({ lossless: true }).toFile(files[2]);
    const source = buildViT({ embed_dim: 192, num_heads: 3, ...SMALL }, { seed: 11 });
    dir = await writePretrainedDir({ weights: source.parameters() });
    source.dispose();
  });
  after(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('a pretrained directory: --json gives each image\'s top k as the library\'s classify does, best first', async () => {
    const r = cli(['classify', ...files, '--model', dir, '--topk', '3', '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    const printed = JSON.parse(r.stdout) as ImageClassification[];
    const { model } = await loadPretrained(dir);
    const expected = await classify(model, files, { topk: 3 });
    model.dispose();
    assert.deepEqual(printed.map((p) => p.image), files);
    printed.forEach(({ top }, i) => {
      assert.deepEqual(top.map((c) => [c.label, c.index]), expected[i].map((c) => [c.label, c.index]));
      top.forEach((c, j) => {
        assert.equal(c.label, LABELS[c.index]);
        assert.ok(Math.abs(c.score - expected[i][j].score) <= 1e-6, `${c.score} vs ${expected[i][j].score}`);
        if (j > 0) assert.ok(c.score <= top[j - 1].score, 'not best first');
      });
      assert.ok(top.reduce((s, c) => s + c.score, 0) <= ONE);
    });
    // The three images are different: not every one gets the same answer.
    assert.ok(new Set(printed.map((p) => JSON.stringify(p.top))).size > 1, 'every image got the same scores');
  });

  it('text: the path, then one line per class, labels padded so that the scores align', async () => {
    // A head of zeros with biases 1, 3, 2, 0: every image's scores are softmax([1, 3, 2, 0]).
    const source = buildViT({ embed_dim: 192, num_heads: 3, ...SMALL }, { seed: 3 });
    const weights = new Map(source.parameters());
    weights.set('head.weight', zeros([4, 192]));
    weights.set('head.bias', tensor([1, 3, 2, 0], [4]));
    const biased = await writePretrainedDir({ weights });
    source.dispose();
    const r = cli(['classify', files[0], files[1], '--model', biased]);
    assert.equal(r.status, 0, r.stderr);
    const e = [1, 3, 2, 0].map(Math.exp);
    const p = e.map((x) => (x / e.reduce((s, y) => s + y, 0)).toFixed(4));
    const block = (f: string) => `${f}\n  dog   ${p[1]}\n  fish  ${p[2]}\n  cat   ${p[0]}\n  bird  ${p[3]}\n`;
    assert.equal(r.stdout, block(files[0]) + block(files[1]));
    assert.equal(p[1], '0.6439');
    const two = cli(['classify', files[2], '-m', biased, '-k', '2']);
    assert.equal(two.stdout, `${files[2]}\n  dog   ${p[1]}\n  fish  ${p[2]}\n`);
  });

  it('a registered name without weights classifies with random weights, and says so in one line on stderr', () => {
    const r = cli(['classify', files[0], '--model', 'deit_tiny_patch16_224', '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, "nodeformers classify: warning: 'deit_tiny_patch16_224' has random weights (no pretrained directory given): its answers mean nothing\n");
    const [{ image, top }] = JSON.parse(r.stdout) as ImageClassification[];
    assert.equal(image, files[0]);
    assert.equal(top.length, 5);
    assert.ok(top.every((c) => c.label === String(c.index) && c.index >= 0 && c.index < 1000 && c.score > 0));
    assert.ok(top.reduce((s, c) => s + c.score, 0) <= ONE);
  });

  it('an image that does not decode: one line naming the file and sharp\'s reason, exit 1', () => {
    const bad = path.join(work, 'bad.png');
    fs.writeFileSync(bad, 'not a PNG at all');
    assertFailure(cli(['classify', files[0], bad, '--model', dir]),
      `nodeformers classify: cannot decode '${bad}': Input file contains unsupported image format`);
  });

  it('a directory without model.safetensors, or a --topk above the classes, says so', async () => {
    const empty = await writePretrainedDir();
    assertFailure(cli(['classify', files[0], '--model', empty]), `nodeformers classify: loadPretrained: '${empty}' has no model.safetensors`);
    const r = cli(['classify', files[0], '--model', dir, '--topk', '5']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^nodeformers classify: --topk 5 is more than the model's 4 classes\nUsage:\n {2}nodeformers classify /);
  });

  it('--device cuda:0 without a CUDA backend says so, exit 1', function () {
    if (backends().includes('cuda')) this.skip();
    assertFailure(cli(['classify', files[0], '--model', dir, '--device', 'cuda:0']),
      'nodeformers classify: --device cuda:0: no CUDA backend here (`nodeformers info` says why)');
  });
});

describe('cli classify: without sharp', function () {
  this.timeout(60000);

  it('says to npm install sharp, exit 1, before loading a model', () => {
    // A child in which resolving sharp fails as it does where sharp is not installed.
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-cli-nosharp-'));
    const hide = path.join(work, 'hide-sharp.js');
    fs.writeFileSync(hide, `const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'sharp') throw Object.assign(new Error("Cannot find module 'sharp'"), { code: 'MODULE_NOT_FOUND' });
  return resolve.call(this, request, ...rest);
};\n`);
    try {
      assertFailure(cli(['classify', 'test/fixtures/images/gradient_61x47.png', '--model', 'deit_tiny_patch16_224'],
        { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${hide}`.trim() }),
      'nodeformers classify: reading images needs the optional package sharp: npm install sharp');
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});
