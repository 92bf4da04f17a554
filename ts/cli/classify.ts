// `nodeformers classify <images...> --model <dir|name>`: the top-k classes of each image
// file, from a timm directory (config.json + model.safetensors) or a registered name with
// random weights. The command line is checked before anything loads; a failure while
// running (a file that does not decode, a directory that does not load) is one message.
import * as fs from 'node:fs';
import { requireOptional } from '../bench/optional';
import { backends } from '../cuda';
import { checkDevice, Device } from '../dtype';
import { classify, Classification } from '../models/classify';
import { loadPretrained } from '../models/pretrained';
import { createModel, listModels } from '../models/registry';
import type { VisionTransformer } from '../models/vit';
import { CommandError, HELP, parseCommand, UsageError } from './args';

export const CLASSIFY_USAGE = `nodeformers classify <images...> --model <dir|name> [--topk 5] [--device cpu|cuda:N] [--json]
      the top-k classes of each image (JPEG, PNG, WebP, AVIF, TIFF; needs the package sharp), best first, with softmax scores
      (--model: a timm directory as Hugging Face lays it out, config.json + model.safetensors, or a name that
       listModels() lists, which has random weights; --json: one JSON array of { image, top: [{ label, index, score }] })`;

/** Images per forward: memory stays bounded however many files are given. */
const BATCH = 16;

/** One image's answer, as --json prints it. */
export interface ImageClassification {
  image: string;
  top: Classification[];
}

const usage = (message: string) => new UsageError(message, 'classify');
const failure = (message: string) => new CommandError(message, 'classify');

/** Runs `nodeformers classify` with the arguments after the command; returns the exit code. */
export async function runClassify(args: string[]): Promise<number> {
  const { values, positionals: images } = parseCommand('classify', {
    args,
    strict: true,
    allowPositionals: true,
    options: { ...HELP, model: { type: 'string', short: 'm' }, topk: { type: 'string', short: 'k' }, device: { type: 'string' }, json: { type: 'boolean' } },
  });
  if (images.length === 0) throw usage('no image given');
  if (values.model === undefined) throw usage('--model is missing: a pretrained directory (config.json + model.safetensors) or a model name');
  if (values.topk !== undefined && !/^[1-9]\d*$/.test(values.topk)) throw usage(`--topk takes a positive integer, got '${values.topk}'`);
  const topk = values.topk === undefined ? undefined : Number(values.topk);
  let device: Device = 'cpu';
  try {
    if (values.device !== undefined) device = checkDevice('classify', values.device);
  } catch {
    throw usage(`--device takes cpu, cuda or cuda:N, got '${values.device}'`);
  }
  images.forEach(checkImageFile);
  const source = modelSource(values.model);
  loadSharp();
  if (device !== 'cpu' && !backends().includes('cuda')) throw failure(`--device ${device}: no CUDA backend here (\`nodeformers info\` says why)`);

  const model = await loadModel(source, device);
  try {
    const classes = model.config.num_classes;
    if (topk !== undefined && topk > classes) throw usage(`--topk ${topk} is more than the model's ${classes} classes`);
    const results: ImageClassification[] = [];
    for (let i = 0; i < images.length; i += BATCH) {
      const chunk = images.slice(i, i + BATCH);
      const tops = await classify(model, chunk, { topk }).catch((e: unknown) => { throw failure(decodeFailure(e, chunk)); });
      const answers = chunk.map((image, j) => ({ image, top: tops[j] }));
      if (!values.json) answers.forEach((a) => console.log(formatClassification(a)));
      results.push(...answers);
    }
    if (values.json) console.log(JSON.stringify(results, null, 2));
    return 0;
  } finally {
    model.dispose();
  }
}

/** The path, then one `label  score` line per class, the scores aligned. */
export function formatClassification({ image, top }: ImageClassification): string {
  const width = Math.max(...top.map((c) => c.label.length));
  return [image, ...top.map((c) => `  ${c.label.padEnd(width)}  ${c.score.toFixed(4)}`)].join('\n');
}

function checkImageFile(file: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (e) {
    throw usage((e as NodeJS.ErrnoException).code === 'ENOENT' ? `no such image file '${file}'` : `cannot read '${file}': ${(e as Error).message}`);
  }
  if (!stat.isFile()) throw usage(`'${file}' is not a file`);
}

type ModelSource = { dir: string } | { name: string };

/** --model: an existing directory, else a registered name (a timm tag after a dot is ignored, as createModel does). */
function modelSource(model: string): ModelSource {
  const stat = fs.statSync(model, { throwIfNoEntry: false });
  if (stat?.isDirectory()) return { dir: model };
  if (stat) throw usage(`--model '${model}' is a file: it takes a directory (config.json + model.safetensors) or a model name`);
  const names = listModels();
  if (names.includes(model.split('.')[0])) return { name: model };
  if (/[\\/]/.test(model)) throw usage(`--model '${model}': no such directory`);
  const near = closeNames(model, names);
  throw usage(`unknown model '${model}'${near.length ? `; did you mean ${near.join(', ')}?` : ''} (not a directory, nor one of the ${names.length} names listModels() gives)`);
}

/** Up to five registered names that contain `name` or are a few edits from it, nearest first. */
export function closeNames(name: string, names: readonly string[]): string[] {
  const wanted = name.toLowerCase().replace(/-/g, '_');
  const limit = Math.max(2, Math.floor(wanted.length / 5));
  return names
    .map((n) => ({ n, d: n.includes(wanted) ? 0 : editDistance(wanted, n) }))
    .filter(({ d }) => d <= limit)
    .sort((a, b) => a.d - b.d || (a.n < b.n ? -1 : 1))
    .slice(0, 5)
    .map(({ n }) => n);
}

/** Levenshtein distance (insertions, deletions, substitutions), one row at a time. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next.push(Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)));
    row = next;
  }
  return row[b.length];
}

/** Loads sharp before the model, so that a machine without it hears so at once. */
function loadSharp(): void {
  try {
    requireOptional('sharp', ['sharp'], 'read images');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_NODEFORMERS_OPTIONAL_PACKAGE') throw failure('reading images needs the optional package sharp: npm install sharp');
    throw failure(`sharp, which reads the images, does not load: ${firstLine(e)}`);
  }
}

async function loadModel(source: ModelSource, device: Device): Promise<VisionTransformer> {
  try {
    if ('dir' in source) return (await loadPretrained(source.dir, { device })).model;
    console.error(`nodeformers classify: warning: '${source.name}' has random weights (no pretrained directory given): its answers mean nothing`);
    return await createModel(source.name, { device });
  } catch (e) {
    // The loader's message says what does not fit over several lines (counts, names, hints).
    throw failure(e instanceof Error ? e.message : String(e));
  }
}

/** A decoding failure as `cannot decode '<file>': <sharp's reason>`, any other failure as its first line. */
function decodeFailure(e: unknown, chunk: readonly string[]): string {
  const decode = /^imagesToTensor: images\[(\d+)\] \(.*?\) could not be decoded: (.*)/.exec(firstLine(e));
  return decode ? `cannot decode '${chunk[Number(decode[1])]}': ${decode[2]}` : firstLine(e);
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}
