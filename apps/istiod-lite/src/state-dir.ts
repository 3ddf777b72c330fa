/**
 * istiod-lite keeps the mesh root CA and the nodes' bootstrap credentials in --state-dir. At start
 * it makes sure it can write there, so a read-only or full disk is a clear error at once, naming
 * the directory and the cause, instead of a failure when the next node appears.
 */
import { mkdir, open, rm } from 'node:fs/promises';
import path from 'node:path';
import { MeshError } from '@mesh/errors';

/** About what a start may write (the root CA, a few node credentials): the check must fit where they will. */
const STATE_DIR_CHECK_BYTES = 64 * 1024;

const CAUSES: Readonly<Record<string, string>> = {
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is exhausted',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a part of the path is not a directory',
};

/** Creates the directory if needed and writes (then removes) a file there; throws ISTIOD_ERR_STATE_DIR if it cannot. */
export async function checkStateDirWritable(stateDir: string): Promise<void> {
  const check = path.join(stateDir, `.write-check-${process.pid}`);
  try {
    await mkdir(stateDir, { recursive: true });
    const file = await open(check, 'w', 0o600);
    try {
      await file.write(Buffer.alloc(STATE_DIR_CHECK_BYTES));
      await file.sync();
    } finally {
      await file.close();
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
    throw new MeshError('ISTIOD_ERR_STATE_DIR', `cannot write to the state directory ${stateDir}: ${CAUSES[code] ?? (err as Error).message} (${code})`, {
      cause: err,
      context: { stateDir, code },
      hint: 'istiod-lite keeps the root CA and the node credentials there: give it a writable --state-dir with some space',
    });
  } finally {
    await rm(check, { force: true }).catch(() => undefined);
  }
}
