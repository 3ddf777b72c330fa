import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { nextEvent } from '@mesh/testing';
import { podChangesOf } from '@mesh/mesh-model';
import { hasCode } from '@mesh/errors';
import { DirectoryConfigSource } from '../src/config-source/directory-config-source.js';
import { createMemoryLogger } from '../src/log.js';
import { MESH_YAML, podYaml } from './helpers.js';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function openSource(files: Record<string, string>, debounceMs = 100) {
  const dir = await mkdtemp(path.join(tmpdir(), 'istiod-source-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), text);
  }
  const logger = createMemoryLogger();
  const source = await DirectoryConfigSource.open(dir, { trustDomain: 'cluster.local', logger, debounceMs });
  cleanups.push(() => source.close());
  const write = (name: string, text: string) => writeFile(path.join(dir, name), text);
  return { dir, source, logger, write };
}

const podNames = (source: DirectoryConfigSource) => [...source.current().pods.values()].map((pod) => pod.name).sort();

describe('DirectoryConfigSource', () => {
  it('reads *.yaml and *.yml recursively and ignores other files', async () => {
    const { source } = await openSource({
      'mesh.yaml': MESH_YAML,
      'apps/sleep.yml': podYaml('sleep', 'node-a', '10.77.1.10'),
      'apps/notes.txt': 'not a manifest',
    });
    expect(podNames(source)).toEqual(['sleep']);
    expect(source.current().podsOnNode('node-a').map((p) => p.name)).toEqual(['sleep']);
    expect(source.generation()).toBe(1);
  });

  it('keeps a broken file\'s last good content in force while other files\' changes apply', async () => {
    const { source, write, logger } = await openSource({
      'mesh.yaml': MESH_YAML,
      'sleep.yaml': podYaml('sleep', 'node-a', '10.77.1.10'),
      'reviews.yaml': podYaml('reviews', 'node-b', '10.77.2.10'),
    });
    await write('sleep.yaml', 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: sleep\nspec:\n  nodeName: 42: nope\n');
    await source.reload();
    expect(source.problems().length).toBeGreaterThan(0);
    expect(source.problems()[0]).toMatchObject({ file: expect.stringMatching(/sleep\.yaml$/), line: expect.any(Number) });
    expect(logger.entries.some((e) => e.level === 'warn' && /sleep\.yaml:\d+:\d+/.test(String(e.msg)))).toBe(true);

    const snapshot = nextEvent(source, 'snapshot');
    await write('reviews.yaml', podYaml('reviews', 'node-b', '10.77.2.99'));
    await snapshot;
    expect(podNames(source)).toEqual(['reviews', 'sleep']);
    expect(source.current().podByIp('10.77.2.99')?.name).toBe('reviews');
    expect(source.current().podByIp('10.77.1.10')?.name).toBe('sleep'); // last good sleep.yaml
  });

  it('applies the good documents of a file with a bad one, and keeps the last good version of the bad one', async () => {
    const policy = (name: string, action: string) =>
      `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: ${name}, namespace: default }\nspec: { action: ${action}, rules: [{}] }\n---\n`;
    const { source, write } = await openSource({ 'mesh.yaml': MESH_YAML, 'policies.yaml': policy('deny-all', 'DENY') + policy('audit', 'CUSTOM') });
    const actions = () => [...source.current().authorizationPolicies.values()].map((p) => `${p.name}:${p.action}`);
    expect(actions()).toEqual(['deny-all:DENY']);
    expect(source.problems().map((p) => p.name)).toEqual(['audit']);

    const snapshot = nextEvent(source, 'snapshot');
    await write('policies.yaml', policy('deny-all', 'DENYY') + policy('audit', 'AUDIT'));
    await source.reload();
    await snapshot;
    expect(actions()).toEqual(['audit:AUDIT', 'deny-all:DENY']);
    expect(source.problems().map((p) => p.name)).toEqual(['deny-all']);
  });

  it('emits one snapshot for a burst of writes and none for a rejected edit', async () => {
    // A debounce far longer than three writes take, even on a busy machine.
    const { source, write } = await openSource({ 'mesh.yaml': MESH_YAML }, 1_000);
    let snapshots = 0;
    source.on('snapshot', () => snapshots++);
    const first = nextEvent(source, 'snapshot');
    await write('a.yaml', podYaml('a', 'node-a', '10.77.1.1'));
    await write('b.yaml', podYaml('b', 'node-a', '10.77.1.2'));
    await write('c.yaml', podYaml('c', 'node-a', '10.77.1.3'));
    await first;
    expect(podNames(source)).toEqual(['a', 'b', 'c']);
    // A reload now finds nothing new: had the burst been split, this would emit a second snapshot.
    await source.reload();
    expect(snapshots).toBe(1);
    await write('c.yaml', 'kind: [');
    await source.reload();
    expect(source.problems()).toContainEqual(expect.objectContaining({ file: expect.stringMatching(/c\.yaml$/) }));
    expect(snapshots).toBe(1);
  });

  it('drops the resources of a deleted file', async () => {
    const { source, dir } = await openSource({ 'mesh.yaml': MESH_YAML, 'sleep.yaml': podYaml('sleep', 'node-a', '10.77.1.10') });
    const snapshot = nextEvent(source, 'snapshot');
    await rm(path.join(dir, 'sleep.yaml'));
    await snapshot;
    expect(podNames(source)).toEqual([]);
  });

  it('an edit to one pod of a multi-document file is a pod-only change: the file\'s other resources keep their objects', async () => {
    const service = 'apiVersion: v1\nkind: Service\nmetadata:\n  name: sleep\n  namespace: default\nspec:\n  selector: {app: sleep}\n  ports: [{name: http, port: 80}]\n';
    const { source, write } = await openSource({ 'mesh.yaml': MESH_YAML, 'sleep.yaml': `${service}---\n${podYaml('sleep', 'node-a', '10.77.1.10')}` });
    const before = source.current();
    const snapshot = nextEvent(source, 'snapshot');
    await write('sleep.yaml', `${service}---\n${podYaml('sleep', 'node-a', '10.77.1.11')}`);
    await snapshot;
    const after = source.current();
    expect(after.services.get('default/sleep')).toBe(before.services.get('default/sleep'));
    const changes = podChangesOf(after);
    expect(changes?.previous).toBe(before);
    expect([...(changes?.pods ?? [])]).toEqual([...before.pods.keys()].filter((key) => key.endsWith('/sleep')));
    expect(after.podByIp('10.77.1.11')?.name).toBe('sleep');
    expect(after.podByIp('10.77.1.10')).toBeUndefined();
  });

  it('fails clearly when the directory does not exist', async () => {
    const error = await DirectoryConfigSource.open('/nonexistent/manifests', { trustDomain: 'cluster.local', logger: createMemoryLogger() }).catch((e: unknown) => e);
    expect(hasCode(error, 'ISTIOD_ERR_CONFIG_DIR')).toBe(true);
  });
});
