/**
 * istiod-lite's golden waypoint xDS, read as data (apps never import each other): the contract
 * between the generator and this runtime. `undefined` when the goldens are not there.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface GoldenWaypointConfig {
  listeners: unknown[];
  clusters: unknown[];
  endpoints: unknown[];
  routes: unknown[];
}

const GOLDEN_DIR = fileURLToPath(new URL('../../../istiod-lite/test/golden/', import.meta.url));

export function goldenWaypointConfig(name: 'waypoint-echo' | 'waypoint-echo-policy' | `waypoint-wpfor-${'service' | 'workload' | 'all' | 'none'}`): GoldenWaypointConfig | undefined {
  const file = `${GOLDEN_DIR}${name}.json`;
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as GoldenWaypointConfig) : undefined;
}
