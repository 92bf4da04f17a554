#!/usr/bin/env node
'use strict';
// `npx nodeformers info|bench|classify`: loads the built CLI (dist/cli.js), or, in a checkout with
// no TypeScript build, ts/cli.ts through tsx. NODEFORMERS_CLI=dist|ts picks one.
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const dist = path.join(root, 'dist', 'cli.js');
const source = path.join(root, 'ts', 'cli.ts');
const want = process.env.NODEFORMERS_CLI;

function load() {
  if (want === 'dist' || (want !== 'ts' && fs.existsSync(dist))) return require(dist);
  try {
    require('tsx/cjs');
  } catch (e) {
    throw new Error(`nodeformers: ${dist} is missing and tsx is not installed to run ${source}; run \`npm run build:ts\` (${e.message})`);
  }
  return require(source);
}

load().main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err && err.stack ? err.stack : err); process.exitCode = 1; },
);
