#!/usr/bin/env node
// The package's install script: build the addon from source where the CUDA backend can be
// built (nvcc found), no prebuilt addon fits this platform, or in a checkout (ts/ is there:
// a developer's native changes must build); else use the prebuilt CPU addon
// (prebuilds/<platform>-<arch>, Node-API: one binary for every supported Node). It never
// fails for want of CMake or a compiler when the prebuilt loads: it says what it found and
// falls back. NODEFORMERS_BUILD=source always builds; NODEFORMERS_BUILD=prebuilt never does.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const target = `${process.platform}-${process.arch}`;
const prebuilt = path.join(root, 'prebuilds', target, 'nodeformers.node');
const say = (line) => console.log(`nodeformers: ${line}`);

/** The first of `names` found as an executable file on the PATH, or ''. */
function onPath(...names) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    for (const name of names) {
      const file = path.join(dir || '.', name);
      try {
        fs.accessSync(file, fs.constants.X_OK);
        if (fs.statSync(file).isFile()) return file;
      } catch { /* not here */ }
    }
  }
  return '';
}

function findNvcc() {
  if ((process.env.NODEFORMERS_CUDA || '').toUpperCase() === 'OFF') return '';
  const homes = [process.env.CUDA_PATH, process.env.CUDA_HOME, '/usr/local/cuda'].filter(Boolean);
  return onPath('nvcc') || homes.map((h) => path.join(h, 'bin', 'nvcc')).find((f) => fs.existsSync(f)) || '';
}

function findCmakeJs() {
  try {
    return require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  } catch {
    return '';
  }
}

/** '' when the prebuilt addon loads here, else why not. */
function prebuiltProblem() {
  if (!fs.existsSync(prebuilt)) return `no prebuilt addon for ${target}`;
  const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(prebuilt)}).backends()`], { encoding: 'utf8' });
  return probe.status === 0 ? '' : `the prebuilt addon does not load: ${(probe.stderr || '').split('\n').find((l) => /Error/.test(l)) || 'exit ' + probe.status}`;
}

function main() {
  const mode = (process.env.NODEFORMERS_BUILD || 'auto').toLowerCase();
  const nvcc = findNvcc();
  const problem = prebuiltProblem();
  const checkout = fs.existsSync(path.join(root, 'ts'));
  const usePrebuilt = (why) => {
    say(`${why}: using the prebuilt CPU addon (${path.relative(root, prebuilt)}; no CUDA backend).`);
    say('to build from source later: NODEFORMERS_BUILD=source npm rebuild nodeformers');
    return 0;
  };
  if (mode === 'prebuilt' || (mode === 'auto' && !nvcc && !problem && !checkout)) {
    if (problem) {
      console.error(`nodeformers: NODEFORMERS_BUILD=prebuilt, but ${problem}`);
      return 1;
    }
    const off = (process.env.NODEFORMERS_CUDA || '').toUpperCase() === 'OFF';
    return usePrebuilt(mode === 'prebuilt' ? 'NODEFORMERS_BUILD=prebuilt' : off ? 'NODEFORMERS_CUDA=OFF' : 'no CUDA toolkit found (nvcc)');
  }
  const tools = { CMake: onPath('cmake'), 'a C++ compiler': process.env.CXX || onPath('c++', 'g++', 'clang++'), 'cmake-js': findCmakeJs() };
  const missing = Object.keys(tools).filter((k) => !tools[k]);
  const reason = nvcc ? `found nvcc (${nvcc})` : problem || 'a checkout (ts/ is here)';
  if (missing.length > 0) {
    if (!problem) return usePrebuilt(`${reason}, but not ${missing.join(', ')} to build${nvcc ? ' the CUDA backend' : ''}`);
    console.error(`nodeformers: ${problem}, and not ${missing.join(', ')} to build one. Install CMake and a C++17 compiler, then npm rebuild nodeformers.`);
    return 1;
  }
  say(`${reason}: building from source with ${tools.CMake} and ${tools['a C++ compiler']}`);
  const build = spawnSync(process.execPath, [tools['cmake-js'], 'compile', '--log-level', 'warn'], { cwd: root, stdio: 'inherit' });
  if (build.status === 0) return 0;
  if (!problem && mode !== 'source') return usePrebuilt('the build from source failed (above)');
  console.error('nodeformers: the build from source failed (above).');
  return 1;
}

process.exitCode = main();
