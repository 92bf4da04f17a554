// Every ```ts and ```js block of README.md runs as written: each is written to a file of a
// scratch app whose `nodeformers` is this checkout (ts/ through tsx) and run by node, in
// README order, in that app's folder. A block's first comment lines may say
// `// requires: cuda` (or `2 GPUs`, or `sharp`): without them it is pending with that reason
// (a GPU block runs, failing, under NODEFORMERS_REQUIRE_CUDA=1); `// file: name.ts` also keeps
// it under that name for later blocks to import.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { backends, cuda } from '../ts/index';
import { HAS_SHARP, REQUIRE_CUDA } from './helpers';
import { readmeBlocks } from './readme_blocks';

const ROOT = path.join(__dirname, '..');

/** Why a block cannot run here ('' when it can). */
function missing(requires: readonly string[]): string {
  const gpus = backends().includes('cuda') ? cuda.deviceCount() : 0;
  for (const r of requires) {
    if (r === 'cuda' && gpus < 1) return 'requires cuda: no GPU here';
    const n = /^(\d+) GPUs$/.exec(r);
    if (n && gpus < Number(n[1])) return `requires ${r}: ${gpus} here`;
    if (r === 'sharp' && !HAS_SHARP) return 'requires sharp: not installed here';
    if (r !== 'cuda' && r !== 'sharp' && !n) return `requires ${r}: unknown requirement`;
  }
  return '';
}

describe('README: every ts and js block runs as written', function () {
  this.timeout(120000);
  const blocks = readmeBlocks(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
  let app = '';

  before(() => {
    app = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-readme-'));
    const pkg = path.join(app, 'node_modules', 'nodeformers');
    fs.mkdirSync(pkg, { recursive: true });
    const index = path.join(ROOT, 'ts', 'index.ts');
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'nodeformers', exports: { import: './index.mjs', require: './index.cjs' } }));
    // As scripts/esm-wrapper.js writes dist/index.mjs: every name of the CommonJS module.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const names = Object.keys(require(index)).filter((n) => n !== 'default' && n !== '__esModule');
    fs.writeFileSync(path.join(pkg, 'index.cjs'), `module.exports = require(${JSON.stringify(index)});\n`);
    fs.writeFileSync(path.join(pkg, 'index.mjs'), `import api from './index.cjs';\nexport const { ${names.join(', ')} } = api;\nexport default api;\n`);
  });
  after(() => fs.rmSync(app, { recursive: true, force: true }));

  it('README.md has blocks, and none uses `using` (a SyntaxError in plain Node 20 JavaScript)', () => {
    assert.ok(blocks.length >= 10, `${blocks.length} blocks`);
    for (const b of blocks) assert.ok(!/^\s*(await\s+)?using\s/m.test(b.code), `README.md:${b.line} uses \`using\``);
  });

  it('every name a block imports is used in it', () => {
    for (const b of blocks) {
      for (const m of b.code.matchAll(/^import \{([^}]+)\} from/gm)) {
        for (const name of m[1].split(',').map((n) => n.trim()).filter(Boolean)) {
          const uses = b.code.match(new RegExp(`\\b${name}\\b`, 'g'))!.length;
          assert.ok(uses > 1, `README.md:${b.line} imports ${name} and never uses it`);
        }
      }
    }
  });

  it('the blocks type-check together (strict, no unused names), CUDA ones included', function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-readme-tsc-'));
    try {
      const names = blocks.map((b) => b.file ?? `block-${b.line}.${b.lang === 'ts' ? 'mts' : 'mjs'}`);
      blocks.forEach((b, i) => fs.writeFileSync(path.join(dir, names[i]), b.code));
      fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
        compilerOptions: {
          target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, noUnusedLocals: true, skipLibCheck: true,
          allowJs: true, checkJs: true, types: ['node'], typeRoots: [path.join(ROOT, 'node_modules', '@types')],
          paths: { nodeformers: [path.join(ROOT, 'ts', 'index.ts')] },
        },
        files: names,
      }));
      const tsc = path.join(path.dirname(require.resolve('typescript/package.json')), 'bin', 'tsc');
      const r = spawnSync(process.execPath, [tsc, '-p', dir], { cwd: dir, encoding: 'utf8' });
      // The library's own files are checked by its build, under its own settings.
      const ours = r.stdout.split('\n').filter((l) => names.some((n) => l.startsWith(n)));
      assert.deepEqual(ours.map((l) => l.replace(/^block-(\d+)\.m[tj]s/, 'README.md block at line $1 ')), []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const block of blocks) {
    const first = block.code.split('\n').find((l) => l.trim() !== '' && !l.startsWith('// requires') && !l.startsWith('// file')) ?? '';
    const title = `README.md:${block.line} (${block.lang}): ${first.slice(0, 60)}`;
    const why = missing(block.requires);
    // NODEFORMERS_REQUIRE_CUDA runs the GPU blocks (failing without one), never one that needs a package absent here.
    if (why !== '' && (!REQUIRE_CUDA || why.startsWith('requires sharp'))) {
      it(`${title} [${why}]`);
      continue;
    }
    it(title, () => {
      const name = block.file ?? `block-${block.line}.${block.lang === 'ts' ? 'mts' : 'mjs'}`;
      fs.writeFileSync(path.join(app, name), block.code);
      const loader = pathToFileURL(path.join(path.dirname(require.resolve('tsx/package.json')), 'dist', 'loader.mjs')).href;
      const r = spawnSync(process.execPath, ['--import', loader, name], { cwd: app, encoding: 'utf8', timeout: 110000 });
      assert.equal(r.status, 0, `README.md:${block.line} exited ${r.status ?? r.signal}:\n${r.stderr.split('\n').filter((l) => !/^\s+at /.test(l)).join('\n')}`);
    });
  }
});

describe('README: readmeBlocks', () => {
  it('reads each ts and js block with its start line and directives, and leaves out bash', () => {
    const md = ['# t', '```bash', 'npm i', '```', '```ts', '// requires: cuda', '// file: a.ts', 'export const a = 1;', '```', '```js', 'console.log(1);', '```',
      '<!-- file: b.ts -->', '```ts', 'export const b = 2;', '```'].join('\n');
    assert.deepEqual(readmeBlocks(md), [
      { line: 6, lang: 'ts', code: '// requires: cuda\n// file: a.ts\nexport const a = 1;\n', requires: ['cuda'], file: 'a.ts' },
      { line: 11, lang: 'js', code: 'console.log(1);\n', requires: [], file: null },
      { line: 15, lang: 'ts', code: 'export const b = 2;\n', requires: [], file: 'b.ts' },
    ]);
  });
});
