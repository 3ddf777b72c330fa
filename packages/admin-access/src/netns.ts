/**
 * Network namespaces by kernel identity. A namespace is a file on `nsfs`; its inode number is
 * the same whoever looks (the host, a container, `ip netns exec`), so `net:[<inode>]` names it
 * across mount namespaces, where names under /run/netns differ (the compose node's `node` is
 * another namespace than the host's `node`, if any).
 */
import { readdirSync, statSync } from 'node:fs';

/** Where `ip netns add` keeps named namespaces. */
export const NAMED_NETNS_DIR = '/run/netns';

function identityOf(path: string): string | undefined {
  try {
    return `net:[${statSync(path).ino}]`;
  } catch {
    return undefined;
  }
}

/** This process's network namespace, `net:[<inode>]`; undefined off Linux. */
export function currentNetworkNamespace(): string | undefined {
  return identityOf('/proc/self/ns/net');
}

/**
 * A path to enter the namespace `identity` through (setns): a named namespace under
 * /run/netns, else any process's `/proc/<pid>/ns/net` in it (seeing other processes there needs
 * the privileges that entering it needs anyway). Undefined when no such namespace is visible.
 */
export function findNetworkNamespace(identity: string): string | undefined {
  const candidates = (dir: string, map: (entry: string) => string | undefined): string | undefined => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return undefined;
    }
    for (const entry of entries) {
      const path = map(entry);
      if (path && identityOf(path) === identity) return path;
    }
    return undefined;
  };
  return (
    candidates(NAMED_NETNS_DIR, (name) => `${NAMED_NETNS_DIR}/${name}`) ??
    candidates('/proc', (pid) => (/^\d+$/.test(pid) ? `/proc/${pid}/ns/net` : undefined))
  );
}
