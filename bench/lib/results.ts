// Where a bench script writes its results JSON: --out when given, else ./bench-results in the
// current directory (never into the package; BENCHMARKS.md says which results it quotes).
import * as fs from 'node:fs';
import * as path from 'node:path';

/** `out` when given, else bench-results/<date>-<device>-<name>.json under the current directory, its folder made. */
export function resultsFile(out: string | undefined, date: string, device: string, name: string): string {
  const file = out || path.resolve('bench-results', `${date}-${device.replace(/^NVIDIA\s+/, '').replace(/\W+/g, '_')}-${name}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  return file;
}
