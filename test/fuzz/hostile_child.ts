// Runs hostile cases [start, end) of a seed in this process and says, on stdout, one line
// before each case ("case i<TAB>kind<TAB>label"), one per case that fails without crashing
// ("fail i<TAB>kind<TAB>label<TAB>why"), and "done" at the end: a crash leaves its case as
// the last line. Usage (test/fuzz/hostile_values.test.ts spawns it; by hand to replay one):
//   node --import tsx --expose-gc test/fuzz/hostile_child.ts <device> <seed> <start> <end>
import { writeSync } from 'node:fs';
import type { Device } from '../../ts/index';
import { HostileCase, HostileContext, hostileCase } from './hostile_cases';
import { caseRng, describeError } from './rng';

const oneLine = (s: string) => s.replace(/[\t\n\r]+/g, ' ');
const say = (...fields: (string | number)[]) => writeSync(1, `${fields.map((f) => oneLine(String(f))).join('\t')}\n`);

async function main(device: Device, seed: number, start: number, end: number): Promise<void> {
  const ctx = new HostileContext(device);
  for (let i = start; i < end; i++) {
    let c: HostileCase;
    try {
      c = hostileCase(caseRng(seed, i), ctx);
    } catch (e) {
      say('case', i, 'build', '(building the case)');
      say('fail', i, 'build', '(building the case)', `building the case threw ${describeError(e)}`);
      continue;
    }
    say('case', i, c.kind, c.label);
    let why: string | null = null;
    try {
      const result = await c.run();
      why = c.verify(result);
    } catch (e) {
      if (!(e instanceof Error)) why = `threw ${describeError(e)}`;
    }
    try {
      ctx.free();
    } catch (e) {
      why ??= `freeing the case's tensors threw ${describeError(e)}`;
    }
    if (why !== null) say('fail', i, c.kind, c.label, why);
  }
  say('done');
}

const [device, seed, start, end] = process.argv.slice(2);
main(device as Device, Number(seed), Number(start), Number(end)).catch((e) => {
  say('error', describeError(e));
  process.exitCode = 2;
});
