import { MeshError } from '@mesh/errors';

/**
 * Polls `check` until it returns true; fails with `what`, the last error and what `lastSeen`
 * says, or at once when `giveUpIf` names a reason (a process that exited).
 */
export async function pollUntil(
  check: () => Promise<boolean>,
  options: { what: string; timeoutMs: number; intervalMs?: number; giveUpIf?: () => string | undefined; lastSeen?: () => string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    const reason = options.giveUpIf?.() ?? (Date.now() > deadline ? `not within ${options.timeoutMs} ms` : undefined);
    if (reason !== undefined) {
      const last = lastError === undefined ? '' : `; last error: ${String((lastError as Error).message ?? lastError)}`;
      throw new MeshError('KUBE_LOCAL_ERR_NOT_READY', `${options.what}: ${reason}${last}${options.lastSeen ? `\n--- output ---\n${options.lastSeen()}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 200));
  }
}
