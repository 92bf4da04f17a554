// Installs without a compiler: the addon's loader tries a local build, then the prebuilt CPU
// addon, and says what it tried; the packed tarball installs into a fresh app whose PATH
// holds no cmake, c++, g++ or make, loads the prebuilt addon and runs a tensor op.
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { addonCandidates, loadAddon } from '../ts/native';

const ROOT = path.join(__dirname, '..');
const PREBUILT = path.join(ROOT, 'prebuilds', `${process.platform}-${process.arch}`, 'nodeformers.node');

describe('install: the addon loader and the prebuilt CPU addon', () => {
  it('looks for a local build first, then the prebuilt addon', () => {
    assert.deepEqual(addonCandidates('/pkg'), [
      '/pkg/build/Release/nodeformers.node',
      '/pkg/build/Debug/nodeformers.node',
      `/pkg/prebuilds/${process.platform}-${process.arch}/nodeformers.node`,
    ]);
  });

  it('when nothing loads, the error lists every path tried and says to run npm rebuild nodeformers', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-load-'));
    const broken = path.join(dir, 'build', 'Release', 'nodeformers.node');
    fs.mkdirSync(path.dirname(broken), { recursive: true });
    fs.writeFileSync(broken, 'not an ELF file');
    try {
      // '' rather than undefined: the sanitizer and node-gyp runs of the suite set NODEFORMERS_ADDON, the default.
      assert.throws(() => loadAddon(addonCandidates(dir), ''), (e: Error) => {
        const lines = e.message.split('\n');
        assert.equal(lines[0], 'nodeformers: could not load the native addon. Tried:');
        assert.match(lines[1], new RegExp(`^  - ${broken}: .*(invalid ELF|too short)`));
        assert.equal(lines[2], `  - ${path.join(dir, 'build', 'Debug', 'nodeformers.node')}: not found`);
        assert.match(lines[3], /prebuilds\/.*nodeformers\.node: not found$/);
        assert.equal(lines[4], 'To fix it:');
        assert.match(lines[5], /^ {2}- npm rebuild nodeformers /);
        return true;
      });
      assert.throws(() => loadAddon([], path.join(dir, 'nope.node')),
        /could not load the native addon \(NODEFORMERS_ADDON=.*nope\.node\)\. Tried:\n {2}- .*nope\.node: not found\n/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the prebuilt addon is committed, small, CPU-only, and loads here', function () {
    if (process.platform !== 'linux' || process.arch !== 'x64') this.skip();
    const bytes = fs.statSync(PREBUILT).size;
    assert.ok(bytes < 5 * 2 ** 20, `${bytes} bytes`);
    const out = execFileSync(process.execPath, ['-e', `const a = require(${JSON.stringify(PREBUILT)}); console.log(a.backends().join())`],
      { encoding: 'utf8' });
    assert.equal(out.trim(), 'cpu');
  });

  it('the prebuilt addon exports what the local build does (else rebuild it: tools/build-prebuilt.sh)', function () {
    const local = path.join(ROOT, 'build', 'Release', 'nodeformers.node');
    if (process.platform !== 'linux' || process.arch !== 'x64' || !fs.existsSync(local)) this.skip();
    const keys = (file: string) => execFileSync(process.execPath, ['-e', `console.log(Object.keys(require(${JSON.stringify(file)})).sort().join())`],
      { encoding: 'utf8' }).trim().split(',').filter((k) => k !== '__canary');
    assert.deepEqual(keys(PREBUILT), keys(local));
  });

  it('the install script without build tools: the prebuilt where it loads, else an exit 1 that says what to install', function () {
    if (process.platform !== 'linux' || process.arch !== 'x64') this.skip();
    this.timeout(60000);
    const pkg = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-install-script-'));
    try {
      fs.mkdirSync(path.join(pkg, 'native'));
      fs.copyFileSync(path.join(ROOT, 'native', 'install.js'), path.join(pkg, 'native', 'install.js'));
      fs.mkdirSync(path.join(pkg, 'bin'));
      fs.symlinkSync(process.execPath, path.join(pkg, 'bin', 'node'));
      const install = (env: Record<string, string>) => {
        const r = spawnSync(process.execPath, [path.join(pkg, 'native', 'install.js')], { env: { PATH: path.join(pkg, 'bin'), ...env }, encoding: 'utf8' });
        return { status: r.status, out: (r.stdout + r.stderr).trim() };
      };
      assert.deepEqual(install({}), { status: 1, out: 'nodeformers: no prebuilt addon for linux-x64, and not CMake, a C++ compiler, cmake-js to build one. ' +
        'Install CMake and a C++17 compiler, then npm rebuild nodeformers.' });
      assert.deepEqual(install({ NODEFORMERS_BUILD: 'prebuilt' }), { status: 1, out: 'nodeformers: NODEFORMERS_BUILD=prebuilt, but no prebuilt addon for linux-x64' });
      fs.mkdirSync(path.join(pkg, 'prebuilds', 'linux-x64'), { recursive: true });
      fs.copyFileSync(PREBUILT, path.join(pkg, 'prebuilds', 'linux-x64', 'nodeformers.node'));
      const fallback = install({ NODEFORMERS_CUDA: 'OFF' });
      assert.equal(fallback.status, 0, fallback.out);
      assert.match(fallback.out, /^nodeformers: NODEFORMERS_CUDA=OFF: using the prebuilt CPU addon \(prebuilds\/linux-x64\/nodeformers\.node; no CUDA backend\)\.\n/);
      fs.mkdirSync(path.join(pkg, 'cuda', 'bin'), { recursive: true });
      fs.writeFileSync(path.join(pkg, 'cuda', 'bin', 'nvcc'), '');
      const withNvcc = install({ CUDA_PATH: path.join(pkg, 'cuda') });
      assert.equal(withNvcc.status, 0, withNvcc.out);
      assert.match(withNvcc.out, new RegExp(`^nodeformers: found nvcc \\(${pkg}/cuda/bin/nvcc\\), but not CMake, a C\\+\\+ compiler, cmake-js to build the CUDA backend: using the prebuilt`));
      // A checkout (ts/ present) builds from source where it can, so that native changes build.
      fs.mkdirSync(path.join(pkg, 'ts'));
      assert.match(install({ NODEFORMERS_CUDA: 'OFF' }).out,
        /^nodeformers: a checkout \(ts\/ is here\), but not CMake, a C\+\+ compiler, cmake-js to build: using the prebuilt/);
    } finally {
      fs.rmSync(pkg, { recursive: true, force: true });
    }
  });

  it('npm install <packed tarball> without cmake, c++, g++ or make on the PATH loads the prebuilt addon and runs an op', function () {
    if (process.platform !== 'linux' || process.arch !== 'x64') this.skip();
    this.timeout(300000);
    const npmCli = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
    if (!fs.existsSync(npmCli)) {
      this.test!.title += ` (skipped: npm not found at ${npmCli})`;
      this.skip();
    }
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-install-'));
    try {
      // A PATH of node, npm and sh only: no build tools.
      const bin = path.join(work, 'bin');
      fs.mkdirSync(bin);
      fs.symlinkSync(process.execPath, path.join(bin, 'node'));
      fs.symlinkSync(npmCli, path.join(bin, 'npm'));
      fs.symlinkSync('/bin/sh', path.join(bin, 'sh'));
      const env: NodeJS.ProcessEnv = { HOME: process.env.HOME, PATH: bin, npm_config_ignore_scripts: 'false', npm_config_offline: 'true',
        npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
      for (const tool of ['cmake', 'c++', 'g++', 'make']) assert.equal(spawnSync(tool, { env }).error?.message.includes('ENOENT'), true, tool);
      // `npm pack` runs prepare (the TypeScript build into dist/) with the repository's own PATH.
      const packed = execFileSync(process.execPath, [npmCli, 'pack', '--silent', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8' });
      const tarball = path.join(work, packed.trim().split('\n').pop()!);
      // Nothing a user does not need: no source maps (their ts/ sources are not shipped), sources, tests or tools.
      const shipped = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).trim().split('\n');
      assert.deepEqual(shipped.filter((f) => /\.map$|^package\/(ts|test|tools|scripts|build|docs|examples)\//.test(f)), []);
      assert.ok(fs.statSync(tarball).size < 1.5 * 2 ** 20, `${fs.statSync(tarball).size} bytes packed`);
      const app = path.join(work, 'app');
      fs.mkdirSync(app);
      fs.writeFileSync(path.join(app, 'package.json'), '{ "name": "app", "version": "1.0.0", "private": true }\n');
      const install = spawnSync(process.execPath, [npmCli, 'install', '--foreground-scripts', tarball], { cwd: app, env, encoding: 'utf8' });
      const said = install.stdout + install.stderr;
      if (install.status !== 0 && /ENOTCACHED|ENOTFOUND|EAI_AGAIN/.test(said)) {
        this.test!.title += ' (skipped: npm cannot install offline here)';
        this.skip();
      }
      assert.equal(install.status, 0, said);
      assert.match(said, /nodeformers: .*using the prebuilt CPU addon \(prebuilds\/linux-x64\/nodeformers\.node; no CUDA backend\)/);
      assert.ok(!fs.existsSync(path.join(app, 'node_modules', 'nodeformers', 'build')), 'no local build');
      const script = `const nf = require('nodeformers');
const y = nf.add(nf.tensor([1, 2, 3, 4], [2, 2]), nf.ones([2, 2]));
console.log(nf.backends().join(), Array.from(y.dataSync()).join());`;
      const run = spawnSync(process.execPath, ['-e', script], { cwd: app, env, encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout.trim(), 'cpu 2,3,4,5');
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});
