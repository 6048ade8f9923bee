import * as fs from 'node:fs';

/**
 * The few file-descriptor calls the write and read paths make, as promises over the callback
 * API (no FileHandle objects on the hot path). Kept behind this small interface so tests can
 * inject disk faults (ENOSPC, a failing truncate) without a real full disk.
 */
export interface FileOps {
  open(path: string, flags: string): Promise<number>;
  close(fd: number): Promise<void>;
  writev(fd: number, buffers: Buffer[], position: number): Promise<number>;
  fdatasync(fd: number): Promise<void>;
  fsync(fd: number): Promise<void>;
  ftruncate(fd: number, length: number): Promise<void>;
  read(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
}

function done<T>(resolve: (v: T) => void, reject: (e: Error) => void) {
  return (err: NodeJS.ErrnoException | null, value: T): void => (err ? reject(err) : resolve(value));
}

export const nodeFileOps: FileOps = {
  open: (path, flags) => new Promise((res, rej) => fs.open(path, flags, 0o644, done(res, rej))),
  close: (fd) => new Promise((res, rej) => fs.close(fd, (err) => (err ? rej(err) : res()))),
  writev: (fd, buffers, position) =>
    new Promise((res, rej) => fs.writev(fd, buffers, position, (err, written) => (err ? rej(err) : res(written)))),
  fdatasync: (fd) => new Promise((res, rej) => fs.fdatasync(fd, (err) => (err ? rej(err) : res()))),
  fsync: (fd) => new Promise((res, rej) => fs.fsync(fd, (err) => (err ? rej(err) : res()))),
  ftruncate: (fd, length) => new Promise((res, rej) => fs.ftruncate(fd, length, (err) => (err ? rej(err) : res()))),
  read: (fd, buffer, offset, length, position) =>
    new Promise((res, rej) => fs.read(fd, buffer, offset, length, position, (err, n) => (err ? rej(err) : res(n)))),
};

/** Reads exactly `length` bytes at `position` (fewer only at end of file). */
export async function readFully(ops: FileOps, fd: number, buffer: Buffer, length: number, position: number): Promise<number> {
  let got = 0;
  while (got < length) {
    const n = await ops.read(fd, buffer, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** Flushes a directory's entries (a created, renamed or deleted file) to disk. */
export async function fsyncDir(dir: string): Promise<void> {
  const fd = await nodeFileOps.open(dir, 'r');
  try {
    await nodeFileOps.fsync(fd);
  } finally {
    await nodeFileOps.close(fd);
  }
}
