/**
 * The sample mesh (examples/bookinfo) as files for istiod-lite, optionally with its addresses
 * moved (explicit mode on loopback uses 127.x instead of 10.77.x) and policies layered on.
 * With a ManifestSink every write and removal goes on to it too (helpers/kube-mesh.ts: the same
 * manifests applied to and deleted from a real API server), so a test's edits read the same
 * whichever source istiod-lite reads.
 */
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { onTestFinished } from 'vitest';
import { WAIT_TIMEOUT_MS, eventually } from '@mesh/testing';
import { REPO_ROOT } from './process.js';

export const BOOKINFO_DIR = `${REPO_ROOT}examples/bookinfo/`;

/**
 * The xDS dialects a ztunnel can run (`--xds-dialect`); the mesh suites run once per dialect,
 * since traffic and policy must behave the same in both (docs/workload-api.md).
 */
export const XDS_DIALECTS = ['envoy', 'workload'] as const;
export type XdsDialect = (typeof XDS_DIALECTS)[number];
export const POLICIES_DIR = `${REPO_ROOT}examples/policies/`;

/** How a test sees that removing a manifest took effect. */
export interface Lifted {
  /** For failure messages: "STRICT mTLS on ratings". */
  what: string;
  /** Throws (e.g. an `expect`) until the manifest's removal took effect. */
  lifted: () => unknown;
  timeoutMs?: number;
}

/** How a test sees that a manifest took effect, and that removing it did. */
export interface InForce extends Lifted {
  /** Throws until the manifest is in force. */
  inForce: () => unknown;
}

export interface MeshFiles {
  root: string;
  configDir: string;
  stateDir: string;
  /** Writes (or replaces) a manifest file in the config dir. */
  write(name: string, yaml: string): Promise<void>;
  /** Copies a file from examples/policies into the config dir. */
  addPolicy(file: string): Promise<void>;
  remove(name: string): Promise<void>;
  /**
   * Writes a manifest for the rest of the current test and waits until it is in force; when the
   * test finishes, passed or failed, removes it and waits until it is lifted, so no test runs
   * under another's manifest.
   */
  useManifest(name: string, yaml: string, probes: InForce): Promise<void>;
  /** Writes a manifest for the rest of the current test (removed, and waited for, when it ends). */
  writeForTest(name: string, yaml: string, probes: Lifted): Promise<void>;
  /** useManifest for a file of examples/policies. */
  usePolicy(file: string, probes: InForce): Promise<void>;
  cleanup(): Promise<void>;
}

/** Where the manifests go besides the config dir (an API server: helpers/kube-mesh.ts). */
export interface ManifestSink {
  /** The files the config dir starts with (name → text), once, before any update. */
  start(files: ReadonlyMap<string, string>): Promise<void>;
  /** A file written (`previous`: what it said before, if it existed) or removed (`next` undefined). */
  update(name: string, previous: string | undefined, next: string | undefined): Promise<void>;
}

export async function createMeshFiles(rewrite: (yaml: string) => string = (y) => y, sink?: ManifestSink): Promise<MeshFiles> {
  const root = await mkdtemp(join(tmpdir(), 'mesh-e2e-'));
  const configDir = join(root, 'config');
  const stateDir = join(root, 'state');
  await mkdir(configDir, { recursive: true });
  await mkdir(stateDir, { recursive: true });
  /** What each file of the config dir says now (what the sink was given). */
  const texts = new Map<string, string>();
  for (const file of (await readdir(BOOKINFO_DIR)).sort()) {
    if (!file.endsWith('.yaml')) continue;
    const text = rewrite(await readFile(join(BOOKINFO_DIR, file), 'utf8'));
    await writeFile(join(configDir, file), text);
    texts.set(file, text);
  }
  try {
    await sink?.start(texts);
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
  const write = async (name: string, yaml: string) => {
    const previous = texts.get(name);
    const text = rewrite(yaml);
    await writeFile(join(configDir, name), text);
    texts.set(name, text);
    await sink?.update(name, previous, text);
  };
  const remove = async (name: string) => {
    const previous = texts.get(name);
    await rm(join(configDir, name), { force: true });
    texts.delete(name);
    if (previous !== undefined) await sink?.update(name, previous, undefined);
  };
  const policyYaml = (file: string) => readFile(join(POLICIES_DIR, file), 'utf8');
  const writeForTest = async (name: string, yaml: string, probes: Lifted) => {
    const timeoutMs = probes.timeoutMs ?? WAIT_TIMEOUT_MS;
    onTestFinished(async () => {
      await remove(name);
      await eventually(probes.lifted, timeoutMs, `${probes.what} lifted (${name} removed)`);
    }, timeoutMs + 5_000);
    await write(name, yaml);
  };
  const useManifest = async (name: string, yaml: string, probes: InForce) => {
    await writeForTest(name, yaml, probes);
    await eventually(probes.inForce, probes.timeoutMs ?? WAIT_TIMEOUT_MS, `${probes.what} in force (${name} written)`);
  };
  return {
    root,
    configDir,
    stateDir,
    write,
    addPolicy: async (file) => write(`policy-${file}`, await policyYaml(file)),
    remove,
    useManifest,
    writeForTest,
    usePolicy: async (file, probes) => useManifest(`policy-${file}`, await policyYaml(file), probes),
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
