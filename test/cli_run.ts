// Runs the CLI as a user does (bin/nodeformers.js in a child node, ts/cli.ts through tsx), for the cli tests.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

export const ROOT = path.join(__dirname, '..');

export interface CliResult { status: number | null; stdout: string; stderr: string }

/** `nodeformers ...args` in ROOT; `env` is added to this process's environment. */
export function cli(args: readonly string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'nodeformers.js'), ...args],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NODEFORMERS_CLI: 'ts', ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
