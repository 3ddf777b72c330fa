/** Test helpers: the saved config dumps of the bookinfo mesh (see fixtures/generate.mjs). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConfigDump, type ConfigDump } from '../src/config-dump/config-dump.js';

export type FixtureName = 'bookinfo-node-a' | 'bookinfo-node-b' | 'allow-node-a' | 'deny-node-b';

export function fixturePath(name: FixtureName): string {
  return fileURLToPath(new URL(`./fixtures/${name}.config_dump.json`, import.meta.url));
}

export function fixtureJson(name: FixtureName): { configs: Record<string, unknown>[] } {
  return JSON.parse(readFileSync(fixturePath(name), 'utf8')) as { configs: Record<string, unknown>[] };
}

export function fixtureDump(name: FixtureName): ConfigDump {
  return parseConfigDump(fixtureJson(name), name);
}
