// `npx nodeformers <command>`: `info` (what runs here and why not) and `bench` (the
// benchmark flow of ts/bench/suite/run.ts). bin/nodeformers.js loads this file.
import { parseArgs } from 'node:util';
import { FLOAT_DTYPES, FloatDType } from './dtype';
import { formatInfo, info } from './bench/info';
import { runBench } from './bench/suite/run';
import { TRAINING_PARTS, TrainingPart } from './bench/suite/training_kit';

const USAGE = `Usage:
  nodeformers info [--json]
      backends, GPU, CUDA/cuBLASLt versions, NVRTC (cuda.compile), attention mechanisms and what each kernel serves here
  nodeformers bench [--dtype float16|float32|bfloat16[,...]] [--batch N] [--attention a,b,...]
                    [--out dir] [--json file] [--baseline file | --no-baseline] [--benchmarks-md file]
                    [--no-peers] [--no-compile] [--no-sweeps] [--no-vit] [--training fb,step,attention | --no-training]
                    [--no-mechanisms] [--quick] [--require-cuda]
      the notebook ViT in the seed's format, a summary beside PyTorch, kernel sweeps, plots
      (--out: where the results JSON and plots go, default ./bench-results; --baseline: the results
       file to compare with, default bench/baselines/<gpu kind>.json of a checkout; --benchmarks-md:
       a file whose bench:cuda section this run rewrites; --no-sweeps: the ViT sections alone;
       --no-vit: the rest, keeping the ViT figures an earlier run of the day wrote to the same JSON;
       --training: section 5's parts (the ViT's forward + backward, a training step, the attention
       backward sweep; default all), a part left out keeping an earlier run's figures as --no-vit does;
       --no-mechanisms: without section 6, every attention mechanism as one layer, forward and
       forward + backward; results are written after each section)`;

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'info') {
    const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean' } } });
    console.log(values.json ? JSON.stringify(info(), null, 2) : formatInfo());
    return 0;
  }
  if (command === 'bench') {
    const { values } = parseArgs({
      args: rest,
      options: {
        dtype: { type: 'string' }, batch: { type: 'string' }, attention: { type: 'string' }, json: { type: 'string' },
        out: { type: 'string' }, 'out-dir': { type: 'string' }, baseline: { type: 'string' }, 'no-baseline': { type: 'boolean' },
        'benchmarks-md': { type: 'string' }, 'no-peers': { type: 'boolean' }, 'no-compile': { type: 'boolean' }, quick: { type: 'boolean' },
        'no-sweeps': { type: 'boolean' }, 'no-vit': { type: 'boolean' }, 'no-mechanisms': { type: 'boolean' }, 'require-cuda': { type: 'boolean' },
        training: { type: 'string' }, 'no-training': { type: 'boolean' },
      },
    });
    const dtypes = values.dtype?.split(',');
    if (dtypes && dtypes.some((d) => !(FLOAT_DTYPES as readonly string[]).includes(d))) {
      throw new TypeError(`nodeformers bench: --dtype takes ${FLOAT_DTYPES.join(', ')}, got '${values.dtype}'`);
    }
    const batch = values.batch === undefined ? undefined : Number(values.batch);
    if (batch !== undefined && (!Number.isInteger(batch) || batch < 1)) throw new RangeError(`nodeformers bench: --batch takes a positive integer, got '${values.batch}'`);
    const training = values.training?.split(',');
    if (training && training.some((p) => !(TRAINING_PARTS as readonly string[]).includes(p))) {
      throw new TypeError(`nodeformers bench: --training takes ${TRAINING_PARTS.join(', ')}, got '${values.training}'`);
    }
    await runBench({
      dtypes: dtypes as FloatDType[] | undefined, batch, attention: values.attention?.split(','), json: values.json,
      outDir: values.out ?? values['out-dir'], baseline: values['no-baseline'] ? null : values.baseline, benchmarksMd: values['benchmarks-md'],
      peers: !values['no-peers'], compile: values['no-compile'] ? false : undefined, quick: values.quick,
      sweeps: !values['no-sweeps'], vit: !values['no-vit'], mechanisms: !values['no-mechanisms'], training: values['no-training'] ? false : (training as TrainingPart[] | undefined) ?? true,
      requireCuda: values['require-cuda'] || process.env.NODEFORMERS_REQUIRE_CUDA === '1',
    });
    return 0;
  }
  console.log(USAGE);
  return command === undefined || command === 'help' || command === '--help' ? 0 : 1;
}
