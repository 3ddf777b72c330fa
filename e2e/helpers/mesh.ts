/**
 * The sample mesh (examples/bookinfo) as files for istiod-lite, optionally with its addresses
 * moved (explicit mode on loopback uses 127.x instead of 10.77.x) and policies layered on.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { REPO_ROOT } from './process.js';

export const BOOKINFO_DIR = `${REPO_ROOT}examples/bookinfo/`;
export const POLICIES_DIR = `${REPO_ROOT}examples/policies/`;

export interface MeshFiles {
  root: string;
  configDir: string;
  stateDir: string;
  /** Writes (or replaces) a manifest file in the config dir. */
  write(name: string, yaml: string): Promise<void>;
  /** Copies a file from examples/policies into the config dir. */
  addPolicy(file: string): Promise<void>;
  remove(name: string): Promise<void>;
  cleanup(): Promise<void>;
}

export async function createMeshFiles(rewrite: (yaml: string) => string = (y) => y): Promise<MeshFiles> {
  const root = await mkdtemp(join(tmpdir(), 'mesh-e2e-'));
  const configDir = join(root, 'config');
  const stateDir = join(root, 'state');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(configDir, { recursive: true });
  await mkdir(stateDir, { recursive: true });
  for (const file of await readdir(BOOKINFO_DIR)) {
    if (file.endsWith('.yaml')) await writeFile(join(configDir, file), rewrite(await readFile(join(BOOKINFO_DIR, file), 'utf8')));
  }
  return {
    root,
    configDir,
    stateDir,
    write: (name, yaml) => writeFile(join(configDir, name), rewrite(yaml)),
    addPolicy: async (file) => writeFile(join(configDir, `policy-${file}`), rewrite(await readFile(join(POLICIES_DIR, file), 'utf8'))),
    remove: (name) => rm(join(configDir, name), { force: true }),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

/** A TCP port free on `host` right now (for servers that must keep their port across restarts). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A pod manifest in the bookinfo style. */
export function podManifest(p: { name: string; app: string; serviceAccount: string; node: string; ip: string; port: number }): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${p.name}
  labels:
    app: ${p.app}
spec:
  serviceAccountName: ${p.serviceAccount}
  nodeName: ${p.node}
  containers:
    - name: ${p.app}
      ports:
        - name: http
          containerPort: ${p.port}
status:
  phase: Running
  podIP: ${p.ip}
`;
}
