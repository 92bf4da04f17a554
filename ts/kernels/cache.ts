// The cache of what cuda.compile made: NVRTC's image (a cubin or PTX) and the kernel's lowered
// name, keyed by a SHA-256 of the source, the kernel's name, the full NVRTC options (the
// architecture included: the GPU's compute capability) and the NVRTC version. In memory for
// the process and on disk across processes: NODEFORMERS_KERNEL_CACHE, else
// <os.tmpdir()>/nodeformers-kernels. A disk entry is <key>.json (what the image is, its size
// and SHA-256) beside <key>.cubin or <key>.ptx, each written to a temporary and renamed into
// place, the image first; an entry that does not check out is compiled again and replaced.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface CompiledImage {
  image: Uint8Array;
  ptx: boolean;
  loweredName: string;
  /** NVRTC's log of the compile (warnings). */
  log: string;
}

const FORMAT = 1;
const memory = new Map<string, CompiledImage>();

/** The directory disk entries go to. */
export function kernelCacheDir(): string {
  const dir = process.env.NODEFORMERS_KERNEL_CACHE;
  return dir !== undefined && dir !== '' ? dir : path.join(os.tmpdir(), 'nodeformers-kernels');
}

/** The key of one compile: every input that changes its output. */
export function cacheKey(parts: { source: string; name: string; options: readonly string[]; arch: number; nvrtc: string }): string {
  return createHash('sha256').update(JSON.stringify({ format: FORMAT, ...parts })).digest('hex');
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Writes `bytes` to `file` by a temporary in its directory renamed over it: readers see the old file or the new one. */
function writeAtomic(file: string, bytes: Uint8Array | string): void {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    fs.writeFileSync(temporary, bytes, { flag: 'wx' });
    fs.renameSync(temporary, file);
  } finally {
    fs.rmSync(temporary, { force: true });
  }
}

/** The disk entry of `key`, or null when there is none or it does not check out. */
function readDisk(key: string): CompiledImage | null {
  const dir = kernelCacheDir();
  try {
    const meta = JSON.parse(fs.readFileSync(path.join(dir, `${key}.json`), 'utf8')) as Record<string, unknown>;
    const { format, ptx, loweredName, log, bytes, sha256: digest } = meta;
    if (format !== FORMAT || typeof ptx !== 'boolean' || typeof loweredName !== 'string' || typeof log !== 'string') return null;
    const image = new Uint8Array(fs.readFileSync(path.join(dir, `${key}.${ptx ? 'ptx' : 'cubin'}`)));
    if (image.byteLength !== bytes || sha256(image) !== digest) return null;
    return { image, ptx, loweredName, log };
  } catch {
    return null; // missing, unreadable or malformed: compiled again
  }
}

/** The cached compile of `key` and where it was found, or null. */
export function readCached(key: string): { entry: CompiledImage; from: 'memory-cache' | 'disk-cache' } | null {
  const hit = memory.get(key);
  if (hit) return { entry: hit, from: 'memory-cache' };
  const entry = readDisk(key);
  if (entry === null) return null;
  memory.set(key, entry);
  return { entry, from: 'disk-cache' };
}

/**
 * Keeps `entry` under `key`, in memory and on disk. A disk that refuses (read-only, full)
 * costs only the next process its compile: the error is returned, not thrown.
 */
export function writeCached(key: string, entry: CompiledImage): Error | null {
  memory.set(key, entry);
  const dir = kernelCacheDir();
  try {
    fs.mkdirSync(dir, { recursive: true });
    writeAtomic(path.join(dir, `${key}.${entry.ptx ? 'ptx' : 'cubin'}`), entry.image);
    const meta = { format: FORMAT, ptx: entry.ptx, loweredName: entry.loweredName, log: entry.log, bytes: entry.image.byteLength, sha256: sha256(entry.image) };
    writeAtomic(path.join(dir, `${key}.json`), JSON.stringify(meta));
    return null;
  } catch (e) {
    return e as Error;
  }
}

/** Forgets the in-memory entries (the disk's stay): the next compile of each reads the disk. */
export function clearMemoryCache(): void {
  memory.clear();
}
