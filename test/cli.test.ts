// The CLI's command line: --help, --version, <command> --help, and a command line that
// cannot run (an unknown command or option, a bad value) gives one line saying what was
// wrong, the usage, and exit code 2, never a stack trace.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listModels } from '../ts/index';
import { cli as run, ROOT } from './cli_run';

const VERSION = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;
const cli = (...args: string[]) => run(args);
const IMAGE = 'test/fixtures/images/gradient_61x47.png';   // cli() runs in ROOT

describe('cli: help, version and usage errors', function () {
  this.timeout(60000);

  it('--help (and no arguments) prints every command\'s usage and exits 0', () => {
    for (const args of [['--help'], ['-h'], []]) {
      const r = cli(...args);
      assert.equal(r.status, 0, args.join(' '));
      assert.match(r.stdout, /^Usage:\n {2}nodeformers info \[--json\]\n/);
      assert.match(r.stdout, /^ {2}nodeformers bench \[--dtype/m);
      assert.match(r.stdout, /^ {2}nodeformers classify <images\.\.\.> --model <dir\|name> \[--topk 5\]/m);
      assert.match(r.stdout, /^ {2}nodeformers --help \| --version \| <command> --help$/m);
      assert.equal(r.stderr, '');
    }
  });

  it('--version prints the package version', () => {
    for (const flag of ['--version', '-v']) assert.deepEqual(cli(flag), { status: 0, stdout: `${VERSION}\n`, stderr: '' });
  });

  it('<command> --help prints that command\'s usage and exits 0, running nothing', () => {
    for (const command of ['info', 'bench', 'classify']) {
      const r = cli(command, '--help');
      assert.equal(r.status, 0);
      assert.match(r.stdout, new RegExp(`^Usage:\\n {2}nodeformers ${command} `));
      assert.ok(!r.stdout.includes(command === 'info' ? 'nodeformers bench' : 'nodeformers info'), r.stdout);
      assert.ok(!/^backends:/m.test(r.stdout), 'info ran');
    }
  });

  const errors: [string[], string][] = [
    [['frobnicate'], "nodeformers: unknown command 'frobnicate'"],
    [['--frobnicate'], "nodeformers: unknown option '--frobnicate'"],
    [['info', '--frobnicate'], "nodeformers info: unknown option '--frobnicate'"],
    [['info', 'extra'], "nodeformers info: unexpected argument 'extra'"],
    [['bench', '--batch'], "nodeformers bench: option '--batch <value>' argument missing"],
    [['bench', '--batch', '0'], "nodeformers bench: --batch takes a positive integer, got '0'"],
    [['bench', '--dtype', 'float64'], "nodeformers bench: --dtype takes float32, float16, bfloat16, got 'float64'"],
    [['classify', '--model', 'deit_tiny_patch16_224'], 'nodeformers classify: no image given'],
    [['classify', IMAGE], 'nodeformers classify: --model is missing: a pretrained directory (config.json + model.safetensors) or a model name'],
    [['classify', IMAGE, '--model'], "nodeformers classify: option '-m, --model <value>' argument missing"],
    ...['0', '1.5', 'five', '-1'].map((k): [string[], string] =>
      [['classify', IMAGE, '--model', 'deit_tiny_patch16_224', `--topk=${k}`], `nodeformers classify: --topk takes a positive integer, got '${k}'`]),
    [['classify', IMAGE, 'nope.png', '--model', 'deit_tiny_patch16_224'], "nodeformers classify: no such image file 'nope.png'"],
    [['classify', path.dirname(IMAGE), '--model', 'deit_tiny_patch16_224'], `nodeformers classify: '${path.dirname(IMAGE)}' is not a file`],
    [['classify', IMAGE, '--model', 'vit_base_patch16_244'], "nodeformers classify: unknown model 'vit_base_patch16_244'; did you mean " +
      `vit_base_patch16_224, vit_base_patch16_384, deit_base_patch16_224, vit_base_patch32_224, vit_base_patch8_224? (not a directory, nor one of the ${listModels().length} names listModels() gives)`],
    [['classify', IMAGE, '--model', 'resnet50'], `nodeformers classify: unknown model 'resnet50' (not a directory, nor one of the ${listModels().length} names listModels() gives)`],
    [['classify', IMAGE, '--model', './no/such'], "nodeformers classify: --model './no/such': no such directory"],
    [['classify', IMAGE, '--model', IMAGE], `nodeformers classify: --model '${IMAGE}' is a file: it takes a directory (config.json + model.safetensors) or a model name`],
    [['classify', IMAGE, '--model', 'deit_tiny_patch16_224', '--device', 'gpu'], "nodeformers classify: --device takes cpu, cuda or cuda:N, got 'gpu'"],
    [['classify', IMAGE, '--model', 'deit_tiny_patch16_224', '--frobnicate'], "nodeformers classify: unknown option '--frobnicate'"],
  ];
  for (const [args, line] of errors) {
    it(`\`nodeformers ${args.join(' ')}\`: one line saying what was wrong, the usage, exit code 2`, () => {
      const r = cli(...args);
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stdout, '');
      const lines = r.stderr.split('\n');
      assert.equal(lines[0], line);
      assert.equal(lines[1], 'Usage:');
      assert.match(lines[2], args[0].startsWith('-') || args[0] === 'frobnicate' ? /^ {2}nodeformers info / : new RegExp(`^ {2}nodeformers ${args[0]} `));
      assert.ok(!/\n\s+at /.test(r.stderr), `a stack trace:\n${r.stderr}`);
    });
  }
});
