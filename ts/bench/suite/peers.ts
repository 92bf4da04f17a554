// The PyTorch side of a benchmark: runs a bench/peers/*.py script on a cases file and turns
// what it measured (blocked autorange, CUDA events, the same method) into Measurements.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SparseMask } from '../../attention/sparse_mask';
import { Device } from '../../dtype';
import { Measurement, MeasurementParams } from '../timer';

/** The package root (ts/bench/suite and dist/bench/suite are both three levels down). */
export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');

export interface PeerTiming { median?: number; q1?: number; q3?: number; times?: number[]; runsPerMeasurement?: number; peakMemoryBytes?: number; error?: string }
export interface PeerOutput { torch: string; timm?: string; results: (Record<string, unknown> & { torch: Record<string, PeerTiming> })[] }

/** Runs bench/peers/<script> on the cases; null (with the reason logged) when python3, torch or a GPU is missing. */
export function runPeer(script: string, cases: unknown[], log: (line: string) => void = console.log): PeerOutput | null {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-bench-'));
  try {
    fs.writeFileSync(path.join(dir, 'cases.json'), JSON.stringify(cases));
    execFileSync('python3', [path.join(PACKAGE_ROOT, 'bench', 'peers', script), path.join(dir, 'cases.json'), path.join(dir, 'out.json')],
      // stderr is kept for the last line of an error; torch.compile can write megabytes of warnings there.
      { stdio: ['ignore', 'inherit', 'pipe'], maxBuffer: 256 * 1024 * 1024 });
    return JSON.parse(fs.readFileSync(path.join(dir, 'out.json'), 'utf8')) as PeerOutput;
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    const lines = (err.stderr?.toString() ?? err.message).trim().split('\n');
    log(`PyTorch peer (${script}) not run: ${lines[lines.length - 1] ?? err.message}`);
    return null;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A peer's timing as a Measurement (null for an error or a result without times). */
export function peerMeasurement(t: PeerTiming | undefined, label: string, subLabel: string, description: string,
  device: Device, params: MeasurementParams = {}): Measurement | null {
  if (!t || t.error !== undefined || t.median === undefined) return null;
  const times = t.times && t.times.length > 0 ? t.times : [t.median];
  return new Measurement(times, t.runsPerMeasurement ?? 1, label, subLabel, description, device, t.peakMemoryBytes ?? null, params);
}

/** A mask's CSR as two int32 little-endian files in `dir` (row offsets, column indices), for a peer to read with numpy. */
export function writeCsr(dir: string, name: string, mask: SparseMask): { offsets: string; cols: string; n: number } {
  const offsets = path.join(dir, `${name}.offsets.bin`), cols = path.join(dir, `${name}.cols.bin`);
  fs.writeFileSync(offsets, Buffer.from(mask.rowOffsets.buffer, mask.rowOffsets.byteOffset, mask.rowOffsets.byteLength));
  fs.writeFileSync(cols, Buffer.from(mask.colIndices.buffer, mask.colIndices.byteOffset, mask.colIndices.byteLength));
  return { offsets, cols, n: mask.nq };
}
