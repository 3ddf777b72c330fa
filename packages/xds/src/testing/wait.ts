/** Waiting for what an XdsClient receives, with a deadline (the polling waits are `@mesh/testing`). */
import { WAIT_TIMEOUT_MS, WaitTimeoutError } from '@mesh/testing';
import type { XdsClient, XdsResourcesUpdate } from '../xds-client.js';

/**
 * Resolves with the next 'resources' event of a type that satisfies the predicate; rejects after
 * `timeoutMs` naming the versions of that type that arrived and did not match.
 */
export function nextUpdate(
  client: XdsClient,
  typeUrl: string,
  predicate: (update: XdsResourcesUpdate) => boolean = () => true,
  timeoutMs = WAIT_TIMEOUT_MS,
): Promise<XdsResourcesUpdate> {
  return new Promise((resolve, reject) => {
    const unmatched: string[] = [];
    const timer = setTimeout(() => {
      client.off('resources', listener);
      const seen = unmatched.length > 0 ? `versions ${unmatched.join(', ')} arrived and did not match` : 'no update of that type';
      reject(new WaitTimeoutError(`timed out after ${timeoutMs} ms waiting for the next ${typeUrl} update; last seen: ${seen}`, unmatched));
    }, timeoutMs);
    const listener = (update: XdsResourcesUpdate) => {
      if (update.typeUrl !== typeUrl) return;
      if (!predicate(update)) {
        unmatched.push(update.version);
        return;
      }
      clearTimeout(timer);
      client.off('resources', listener);
      resolve(update);
    };
    client.on('resources', listener);
  });
}
