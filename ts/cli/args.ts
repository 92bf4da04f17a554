// What every CLI command shares: its two kinds of failure (a command line that cannot run,
// exit 2 with the usage; a run that failed, exit 1) and strict option parsing.
import { parseArgs, ParseArgsConfig } from 'node:util';

/** A command line that cannot run: main prints its message and the usage, and exits with 2. */
export class UsageError extends Error {
  constructor(message: string, readonly command?: string) {
    super(message);
  }
}

/** A command that ran and failed (a file that does not decode, a model that does not load): main prints the message alone and exits with 1. */
export class CommandError extends Error {
  constructor(message: string, readonly command: string) {
    super(message);
  }
}

export const HELP = { help: { type: 'boolean', short: 'h' } } as const;

/** parseArgs of one command (strict), its errors (an unknown option, a missing value) as UsageErrors. */
export function parseCommand<T extends ParseArgsConfig>(command: string, config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    if (!/^ERR_PARSE_ARGS_/.test((e as NodeJS.ErrnoException).code ?? '')) throw e;
    const first = (e as Error).message.split('. ')[0].replace(/\.$/, '');
    throw new UsageError(first[0].toLowerCase() + first.slice(1), command);
  }
}
