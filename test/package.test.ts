// The package as a consumer installs it: `require('nodeformers')` loads none of the optional
// plotting and host-timing packages (peer dependencies), a function that needs a missing one
// says what to install, and package.json's `files` ships no bench results or device scripts.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { importOptional, requireOptional } from '../ts/bench/optional';

const ROOT = path.join(__dirname, '..');
const OPTIONAL = ['vega', 'vega-lite', '@resvg/resvg-js', 'benchmark', 'cli-progress', 'lodash'];

/** Runs `script` in a child node (with tsx for ts/) and returns what it printed. */
function child(script: string, withTsx: boolean): string {
  const args = [...(withTsx ? ['--import', 'tsx'] : []), '-e', script];
  return execFileSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NODEFORMERS_CLI: undefined } });
}

// Lists every module file the child loaded (CommonJS cache and ES module resolutions alike)
// that lies in one of the optional packages.
const LOADED_OPTIONAL = (entry: string) => `
const Module = require('node:module');
const seen = new Set();
const names = ${JSON.stringify(OPTIONAL)};
const original = Module._load;
Module._load = function (request, ...rest) { seen.add(request); return original.call(this, request, ...rest); };
require(${JSON.stringify(entry)});
const inCache = Object.keys(require.cache).filter((f) => names.some((n) => f.includes('/node_modules/' + n + '/')));
const requested = [...seen].filter((r) => names.some((n) => r === n || r.startsWith(n + '/')));
console.log(JSON.stringify({ inCache, requested }));`;

describe('package: what a consumer loads and installs', () => {
  for (const [entry, withTsx] of [['./ts/index.ts', true], ['./dist/index.js', false]] as const) {
    it(`require('${entry}') loads none of ${OPTIONAL.join(', ')}`, function () {
      if (!fs.existsSync(path.join(ROOT, entry))) this.skip();
      this.timeout(60000);
      const out = JSON.parse(child(LOADED_OPTIONAL(entry), withTsx).trim().split('\n').pop()!);
      assert.deepEqual(out, { inCache: [], requested: [] });
    });
  }

  it('package.json: the optional packages are optional peer dependencies, not dependencies', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    for (const name of OPTIONAL) {
      assert.equal(pkg.dependencies?.[name], undefined, `${name} in dependencies`);
      assert.equal(pkg.optionalDependencies?.[name], undefined, `${name} in optionalDependencies`);
      if (pkg.peerDependencies?.[name] !== undefined) assert.equal(pkg.peerDependenciesMeta?.[name]?.optional, true, name);
    }
    // `files` ships the build inputs and the CLI's peers, not bench results, tools or scripts.
    for (const f of pkg.files as string[]) assert.ok(!/^(tools|scripts|bench\/(results|baselines)|bench$)/.test(f), `files holds ${f}`);
  });

  it('package.json names the repository and keywords; LICENSE (MIT), CHANGELOG.md and the TypeDoc config exist', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    assert.match(pkg.repository.url, /^git\+https:\/\/github\.com\/[\w.-]+\/[\w.-]+\.git$/);
    assert.ok(pkg.keywords.includes('transformer') && pkg.keywords.includes('attention'), String(pkg.keywords));
    assert.equal(pkg.license, 'MIT');
    assert.match(fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) \d{4} nodeformers contributors\n/);
    assert.match(fs.readFileSync(path.join(ROOT, 'CHANGELOG.md'), 'utf8'), /^# Changelog\n[\s\S]*### Issue 26/);
    const typedoc = JSON.parse(fs.readFileSync(path.join(ROOT, 'typedoc.json'), 'utf8'));
    assert.deepEqual(typedoc.entryPoints, ['ts/index.ts']);
    assert.match(pkg.scripts['docs:api'], /typedoc.* --options typedoc\.json$/);
  });

  it('a missing optional package gives an Error that says what to install', async () => {
    assert.throws(() => requireOptional('nodeformers-no-such-package', ['vega', 'vega-lite', '@resvg/resvg-js'], 'draw plots'),
      (e: Error & { code?: string }) => e.code === 'ERR_NODEFORMERS_OPTIONAL_PACKAGE' &&
        e.message === 'nodeformers: draw plots needs the optional packages vega vega-lite @resvg/resvg-js: npm install vega vega-lite @resvg/resvg-js to draw plots');
    await assert.rejects(importOptional('nodeformers-no-such-package', ['vega'], 'draw plots'),
      /^Error: nodeformers: draw plots needs the optional package vega: npm install vega to draw plots$/);
  });

  it('hostBenchmark and renderPNG without their package say what to install', function () {
    this.timeout(60000);
    // A child where resolving the optional packages fails as it does where they are not installed.
    const script = `
const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (['benchmark', '@resvg/resvg-js', 'cli-progress'].includes(request)) throw Object.assign(new Error("Cannot find module '" + request + "'"), { code: 'MODULE_NOT_FOUND' });
  return resolve.call(this, request, ...rest);
};
const { hostBenchmark, renderPNG, runSweep } = require('./ts/bench');
const messages = [];
try { hostBenchmark(() => 0); } catch (e) { messages.push(e.message); }
renderPNG('<svg xmlns="http://www.w3.org/2000/svg"/>').catch((e) => messages.push(e.message)).then(async () => {
  const tty = { isTTY: true, write: () => true };
  const quiet = await runSweep([1], () => () => undefined, { stream: tty, benchmark: { minRunTime: 0.001 } });
  messages.push('auto without cli-progress: ' + quiet.measurements.length);
  await runSweep([1], () => () => undefined, { stream: tty, progress: true }).catch((e) => messages.push(e.message));
  console.log(JSON.stringify(messages));
});`;
    const messages = JSON.parse(child(script, true).trim().split('\n').pop()!);
    assert.deepEqual(messages, [
      'nodeformers: time host calls (hostBenchmark) needs the optional package benchmark: npm install benchmark to time host calls (hostBenchmark)',
      'nodeformers: draw plots needs the optional packages vega vega-lite @resvg/resvg-js: npm install vega vega-lite @resvg/resvg-js to draw plots',
      'auto without cli-progress: 1',
      'nodeformers: draw a progress bar (runSweep progress: true) needs the optional package cli-progress: npm install cli-progress to draw a progress bar (runSweep progress: true)',
    ]);
  });
});
