// `npx nodeformers <command>`: `info` (what runs here and why not), `bench` (the
// benchmark flow of ts/bench/suite/run.ts) and `classify` (ts/cli/classify.ts).
// bin/nodeformers.js loads this file. A command line that cannot run gets one line saying
// why, the usage, and exit code 2; a command that fails, one message and exit code 1.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FLOAT_DTYPES, FloatDType } from './dtype';
import { formatInfo, info } from './bench/info';
import { runBench } from './bench/suite/run';
import { TRAINING_PARTS, TrainingPart } from './bench/suite/training_kit';
import { CommandError, HELP, parseCommand, UsageError } from './cli/args';
import { CLASSIFY_USAGE, runClassify } from './cli/classify';

/** Each command's usage and what it does (its --help). */
const COMMANDS: Record<string, string> = {
  info: `nodeformers info [--json]
      backends, GPU, CUDA/cuBLASLt versions, NVRTC (cuda.compile), attention mechanisms and what each kernel serves here`,
  bench: `nodeformers bench [--dtype float16|float32|bfloat16[,...]] [--batch N] [--attention a,b,...]
                    [--out dir] [--json file] [--baseline file | --no-baseline] [--benchmarks-md file]
                    [--no-peers] [--no-compile] [--no-sweeps] [--no-vit] [--training fb,step,attention | --no-training]
                    [--no-mechanisms] [--no-ort] [--quick] [--require-cuda]
      the notebook ViT in the seed's format, a summary beside PyTorch, kernel sweeps, plots
      (--out: where the results JSON and plots go, default ./bench-results; --baseline: the results
       file to compare with, default bench/baselines/<gpu kind>.json of a checkout; --benchmarks-md:
       a file whose bench:cuda section this run rewrites; --no-sweeps: the ViT sections alone;
       --no-vit: the rest, keeping the ViT figures an earlier run of the day wrote to the same JSON;
       --training: section 5's parts (the ViT's forward + backward, a training step, the attention
       backward sweep; default all), a part left out keeping an earlier run's figures as --no-vit does;
       --no-mechanisms: without section 6, every attention mechanism as one layer, forward and
       forward + backward; --no-ort: without section 7 on the CPU, the ViTs beside
       onnxruntime-node (where bench/ort has it installed); results are written after each section)`,
  classify: CLASSIFY_USAGE,
};
const GENERAL = `  nodeformers --help | --version | <command> --help`;
const usage = (command?: string): string =>
  `Usage:\n${command ? `  ${COMMANDS[command]}` : `${Object.values(COMMANDS).map((u) => `  ${u}`).join('\n')}\n${GENERAL}`}`;

/** The package's version, from the package.json one directory above this file (ts/ or dist/). */
export function version(): string {
  return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    return await run(argv);
  } catch (e) {
    if (e instanceof CommandError) {
      console.error(`nodeformers ${e.command}: ${e.message}`);
      return 1;
    }
    if (!(e instanceof UsageError)) throw e;
    console.error(`nodeformers${e.command ? ` ${e.command}` : ''}: ${e.message}`);
    console.error(usage(e.command));
    return 2;
  }
}

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(usage());
    return 0;
  }
  if (command === '--version' || command === '-v') {
    console.log(version());
    return 0;
  }
  if (!(command in COMMANDS)) throw new UsageError(command.startsWith('-') ? `unknown option '${command}'` : `unknown command '${command}'`);
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(usage(command));
    return 0;
  }
  if (command === 'info') {
    const { values } = parseCommand('info', { args: rest, options: { ...HELP, json: { type: 'boolean' } }, strict: true });
    console.log(values.json ? JSON.stringify(info(), null, 2) : formatInfo());
    return 0;
  }
  if (command === 'bench') {
    const { values } = parseCommand('bench', {
      args: rest,
      strict: true,
      options: {
        ...HELP,
        dtype: { type: 'string' }, batch: { type: 'string' }, attention: { type: 'string' }, json: { type: 'string' },
        out: { type: 'string' }, 'out-dir': { type: 'string' }, baseline: { type: 'string' }, 'no-baseline': { type: 'boolean' },
        'benchmarks-md': { type: 'string' }, 'no-peers': { type: 'boolean' }, 'no-compile': { type: 'boolean' }, quick: { type: 'boolean' },
        'no-sweeps': { type: 'boolean' }, 'no-vit': { type: 'boolean' }, 'no-mechanisms': { type: 'boolean' }, 'no-ort': { type: 'boolean' }, 'require-cuda': { type: 'boolean' },
        training: { type: 'string' }, 'no-training': { type: 'boolean' },
      },
    });
    const dtypes = values.dtype?.split(',');
    if (dtypes && dtypes.some((d) => !(FLOAT_DTYPES as readonly string[]).includes(d))) {
      throw new UsageError(`--dtype takes ${FLOAT_DTYPES.join(', ')}, got '${values.dtype}'`, 'bench');
    }
    const batch = values.batch === undefined ? undefined : Number(values.batch);
    if (batch !== undefined && (!Number.isInteger(batch) || batch < 1)) throw new UsageError(`--batch takes a positive integer, got '${values.batch}'`, 'bench');
    const training = values.training?.split(',');
    if (training && training.some((p) => !(TRAINING_PARTS as readonly string[]).includes(p))) {
      throw new UsageError(`--training takes ${TRAINING_PARTS.join(', ')}, got '${values.training}'`, 'bench');
    }
    await runBench({
      dtypes: dtypes as FloatDType[] | undefined, batch, attention: values.attention?.split(','), json: values.json,
      outDir: values.out ?? values['out-dir'], baseline: values['no-baseline'] ? null : values.baseline, benchmarksMd: values['benchmarks-md'],
      peers: !values['no-peers'], compile: values['no-compile'] ? false : undefined, quick: values.quick,
      sweeps: !values['no-sweeps'], vit: !values['no-vit'], mechanisms: !values['no-mechanisms'], ort: !values['no-ort'], training: values['no-training'] ? false : (training as TrainingPart[] | undefined) ?? true,
      requireCuda: values['require-cuda'] || process.env.NODEFORMERS_REQUIRE_CUDA === '1',
    });
    return 0;
  }
  if (command === 'classify') return runClassify(rest);
  throw new Error(`nodeformers: the command '${command}' has usage but no handler`);
}
