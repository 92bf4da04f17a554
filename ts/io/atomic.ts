// Writing a file so that it is either the old file or the whole new one, never a mix: the
// bytes go to a temporary file in the same directory, which is fsynced and then renamed over
// the target (an atomic replace on POSIX), and the directory is fsynced where the platform
// allows, so that the rename itself survives a crash. On failure the temporary is removed.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { operationError } from '../errors';

/** @internal The file operations writeFileAtomic uses: a test replaces one to fail midway (a full disk). */
export const atomicIO = {
  open: (file: string, flags: string, mode?: number): Promise<fs.promises.FileHandle> => fs.promises.open(file, flags, mode),
  rename: (from: string, to: string): Promise<void> => fs.promises.rename(from, to),
};

/** The temporary beside `file`: hidden, and unique to this process and call. */
function temporaryFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

async function writeAll(handle: fs.promises.FileHandle, chunks: readonly Uint8Array[]): Promise<void> {
  for (const chunk of chunks) {
    for (let at = 0; at < chunk.byteLength;) {
      const { bytesWritten } = await handle.write(chunk, at, chunk.byteLength - at);
      if (bytesWritten <= 0) throw new Error('write made no progress');
      at += bytesWritten;
    }
  }
}

// Makes the rename durable; platforms that cannot open or fsync a directory (Windows) skip it.
async function syncDirectory(dir: string): Promise<void> {
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(dir, 'r');
    await handle.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EACCES' && code !== 'ENOTSUP') throw e;
  } finally {
    await handle?.close();
  }
}

/**
 * Replaces `file` with `chunks`, written in order, atomically (see above). Errors name `fn`
 * and the path, and keep the system's code (ENOSPC, EACCES, ...) and the original as cause.
 * An existing file's permission bits are kept.
 */
export async function writeFileAtomic(fn: string, file: string, chunks: readonly Uint8Array[]): Promise<void> {
  const temporary = temporaryFor(file);
  let handle: fs.promises.FileHandle | undefined;
  let renamed = false;
  try {
    const mode = await fs.promises.stat(file).then((s) => s.mode & 0o7777, () => undefined);
    handle = await atomicIO.open(temporary, 'wx', mode ?? 0o666);
    if (mode !== undefined) await handle.chmod(mode); // open's mode passes through the umask
    await writeAll(handle, chunks);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await atomicIO.rename(temporary, file);
    renamed = true;
    await syncDirectory(path.dirname(file));
  } catch (e) {
    await handle?.close().catch(() => undefined);
    if (!renamed) await fs.promises.rm(temporary, { force: true }).catch(() => undefined);
    const err = operationError(fn, `cannot write '${file}': ${(e as Error).message}`, e) as NodeJS.ErrnoException;
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined) err.code = code;
    throw err;
  }
}
