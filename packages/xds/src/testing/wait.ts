/** Small waits for tests that drive an XdsClient. */
import type { XdsClient, XdsResourcesUpdate } from '../xds-client.js';

/** Resolves with the next 'resources' event of a type that satisfies the predicate. */
export function nextUpdate(
  client: XdsClient,
  typeUrl: string,
  predicate: (update: XdsResourcesUpdate) => boolean = () => true,
): Promise<XdsResourcesUpdate> {
  return new Promise((resolve) => {
    const listener = (update: XdsResourcesUpdate) => {
      if (update.typeUrl !== typeUrl || !predicate(update)) return;
      client.off('resources', listener);
      resolve(update);
    };
    client.on('resources', listener);
  });
}

/** Polls until the predicate holds; rejects naming `what` after `timeoutMs`. */
export async function until(predicate: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
