/**
 * istiod-lite's golden xDS (apps/istiod-lite/test/golden), read as data: the contract between
 * the control plane's generators and what this proxy compiles. Apps never import each other, so
 * tests that need real generator output read these files, and skip when they are not there.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TYPE_URL, type ResourceJson } from '@mesh/xds';
import { ModelStore } from '../xds/model-store.js';

const GOLDEN_DIR = fileURLToPath(new URL('../../../istiod-lite/test/golden/', import.meta.url));

/** The workload dialect's golden: every resource by name, per type. */
export interface WorkloadGolden {
  readonly addresses: Readonly<Record<string, ResourceJson>>;
  readonly authorizations: Readonly<Record<string, ResourceJson>>;
}

export function hasIstiodGolden(name: string): boolean {
  return existsSync(`${GOLDEN_DIR}${name}.json`);
}

export function readIstiodGolden<T = unknown>(name: string): T {
  return JSON.parse(readFileSync(`${GOLDEN_DIR}${name}.json`, 'utf8')) as T;
}

/** A workload-dialect model store for `node` with both types of a golden applied (throws the NACK reason). */
export function workloadStoreOf(golden: WorkloadGolden, node: string): ModelStore {
  const store = new ModelStore({ dialect: 'workload', nodeName: node });
  applyWorkloadGolden(store, golden);
  return store;
}

export function applyWorkloadGolden(store: ModelStore, golden: WorkloadGolden, version = 'v1'): void {
  for (const [typeUrl, resources] of [
    [TYPE_URL.ADDRESS, golden.addresses],
    [TYPE_URL.AUTHORIZATION, golden.authorizations],
  ] as const) {
    const reason = store.apply(typeUrl, version, Object.values(resources));
    if (reason !== undefined) throw new Error(reason);
  }
}
