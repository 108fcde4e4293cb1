/**
 * Files that several processes share: replaced atomically, and the liveness
 * test for the pid a lock or temp file names.
 * @module
 */
import * as fs from 'node:fs';

/** @internal The errno name of a failed file system call (`ENOENT`...), or undefined. */
export const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;

/**
 * Replaces `file` atomically: `fill` makes a temporary file beside it (same
 * directory, so same file system), which is flushed to disk and renamed over
 * `file`; it may make a symbolic link instead, which has nothing to flush. A reader sees the old content or the new, never part; so does one
 * after a power loss (the data is on disk before the rename). When `fill`, the flush or the rename fails, the temporary file is
 * removed and the error thrown; `file` is unchanged.
 * @param fill writes the new content to the path it is given (it may be another process that does)
 */
export function replaceFile(file: string, fill: (tmp: string) => void): void {
  // pid and a random part: unique among the processes sharing the directory, even across PID namespaces.
  const tmp = `${file}.tmp-${process.pid}-${Math.floor(Math.random() * 2 ** 32).toString(16)}`;
  try {
    fill(tmp);
    flush(tmp);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

function flush(path: string): void {
  let fd;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (e) {
    if (errno(e) === 'ELOOP') return; // a symbolic link
    throw e;
  }
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

/**
 * Writes `data` to `file` atomically (see {@link replaceFile}), the file
 * created with permissions `mode` (before the umask).
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): void {
  replaceFile(file, (tmp) => fs.writeFileSync(tmp, data, { mode, flag: 'wx' }));
}

/** Whether process `pid` exists (EPERM: it does, someone else's); false for anything that is not a pid. */
export function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errno(e) === 'EPERM';
  }
}
