// [hostile-fuzz] Hostile JS values against the addon and the public ops (test/fuzz/
// hostile_cases.ts): each case must throw an Error or succeed with the clean call's result,
// never crash. The cases run in child processes, BATCH at a time (test/fuzz/hostile_child.ts),
// so a crash is a failing case with its seed and label, and the next child goes on after it.
// One summary line starts "hostile-fuzz [device]:" with the crash count. The seed is printed;
// NODEFORMERS_FUZZ_SEED replays a run, NODEFORMERS_FUZZ_CASE one case of it;
// NODEFORMERS_FUZZ_HOSTILE_CASES sets the count (10,000 by default, as in CI).
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import type { Device } from '../../ts/index';
import { DEVICES, describeDevice } from '../helpers';
import { KINDS } from './hostile_cases';
import { SEED } from './rng';

const CASES = Number(process.env.NODEFORMERS_FUZZ_HOSTILE_CASES ?? 10_000);
const ONLY = process.env.NODEFORMERS_FUZZ_CASE !== undefined ? Number(process.env.NODEFORMERS_FUZZ_CASE) : null;
const BATCH = 1000;
/** Past this many crashes the run stops (each costs a new child): the count is then a lower bound. */
const MAX_CRASHES = Number(process.env.NODEFORMERS_FUZZ_MAX_CRASHES ?? 50);
const CHILD = path.join(__dirname, 'hostile_child.ts');

interface Tally { cases: number; crashes: number; failures: number }
interface Run { ran: number; children: number; crashes: string[]; failures: string[]; byKind: Map<string, Tally>; stopped: boolean }

/** The last line of a child's stderr that says why it died (a sanitizer's or Node's report), else its last line. */
function deathNote(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const telling = lines.find((l) => /ERROR: AddressSanitizer|runtime error:|Segmentation|Aborted|FATAL|corrupted|double free|free\(\)/.test(l));
  return (telling ?? lines[lines.length - 1] ?? '(no output)').slice(0, 240);
}

function hostileRun(device: Device, seed: number, start: number, end: number): Run {
  const run: Run = { ran: 0, children: 0, crashes: [], failures: [], byKind: new Map(), stopped: false };
  const tally = (kind: string) => {
    let t = run.byKind.get(kind);
    if (!t) run.byKind.set(kind, (t = { cases: 0, crashes: 0, failures: 0 }));
    return t;
  };
  const replay = (i: number) => `replay: NODEFORMERS_FUZZ_SEED=${SEED} NODEFORMERS_FUZZ_CASE=${i} npx mocha test/fuzz/hostile_values.test.ts, ` +
    `or node --import tsx --expose-gc test/fuzz/hostile_child.ts ${device} ${seed} ${i} ${i + 1}`;
  const spawn = (from: number, to: number) => {
    run.children++;
    return spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', CHILD, device, String(seed), String(from), String(to)], {
      encoding: 'utf8', timeout: 600_000, maxBuffer: 256 * 2 ** 20,
    });
  };
  for (let first = start; first < end && !run.stopped;) {
    const last = Math.min(end, first + BATCH);
    let next = first;
    while (next < last) {
      const child = spawn(next, last);
      let current: { i: number; kind: string; label: string } | null = null;
      let done = false;
      for (const line of child.stdout.split('\n')) {
        const [tag, i, kind, label, why] = line.split('\t');
        if (tag === 'case') {
          current = { i: Number(i), kind, label };
          run.ran++;
          tally(kind).cases++;
        } else if (tag === 'fail') {
          tally(kind).failures++;
          run.failures.push(`case ${i} ${kind}: ${label}: ${why} (${replay(Number(i))})`);
        } else if (tag === 'done') {
          done = true;
        } else if (tag === 'error') {
          run.failures.push(`the child failed at case ${current?.i ?? next}: ${i}`);
          done = true;
        }
      }
      if (done) break;
      const how = child.error ? String(child.error.message) : child.signal ? `killed by ${child.signal}` : `exit ${child.status}`;
      if (current === null) {
        run.failures.push(`a child for cases ${next}..${last - 1} died before its first case (${how}): ${deathNote(child.stderr)}`);
        run.stopped = true;
        break;
      }
      tally(current.kind).crashes++;
      // A case that corrupts the heap quietly can make a later one crash: run the crashed case alone to say which.
      const alone = current.i === next ? child : spawn(current.i, current.i + 1);
      const where = alone === child || !alone.stdout.includes('\ndone') ? 'reproduces alone' : `does not crash alone: a case of ${next}..${current.i - 1} corrupted memory first`;
      run.crashes.push(`case ${current.i} ${current.kind}: ${current.label} — CRASHED (${how}; ${where}): ${deathNote(child.stderr)} (${replay(current.i)})`);
      if (run.crashes.length >= MAX_CRASHES) { run.stopped = true; break; }
      next = current.i + 1;
    }
    first = last;
  }
  return run;
}

for (const device of DEVICES) {
  describeDevice(device, 'fuzz: hostile JS values', () => {
    const count = ONLY !== null ? 1 : CASES;
    it(`[hostile-fuzz] ${count} cases of freeing getters, Proxies, detached buffers, wrong receivers and coercions: each throws an Error or gives the clean result, none crashes`, function () {
      this.timeout(1_800_000);
      const seed = SEED + 11 + (device === 'cpu' ? 0 : 1);
      const [start, end] = ONLY !== null ? [ONLY, ONLY + 1] : [0, CASES];
      const t0 = Date.now();
      const run = hostileRun(device, seed, start, end);
      const seconds = ((Date.now() - t0) / 1000).toFixed(1);
      const kinds = KINDS.map((k) => run.byKind.get(k)).map((t, i) => `${KINDS[i]} ${t?.cases ?? 0}${t?.crashes ? ` (${t.crashes} crashed)` : ''}${t?.failures ? ` (${t.failures} failed)` : ''}`);
      console.log(`      hostile-fuzz [${device}]: seed ${seed} (replay: NODEFORMERS_FUZZ_SEED=${SEED}), ${run.ran} of ${end - start} cases in ${run.children} child processes, ${seconds} s: ` +
        `${run.crashes.length} crashes${run.stopped ? ' (stopped early: a lower bound)' : ''}, ${run.failures.length} failures without a crash`);
      console.log(`      by kind: ${kinds.join(', ')}`);
      for (const c of [...run.crashes.slice(0, 40), ...run.failures.slice(0, 40)]) console.log(`      ${c}`);
      assert.deepEqual([...run.crashes, ...run.failures].slice(0, 30), [], `hostile-fuzz: ${run.crashes.length} crashes, ${run.failures.length} failures (seed ${seed})`);
      assert.equal(run.ran, end - start, 'every case ran');
    });
  });
}
