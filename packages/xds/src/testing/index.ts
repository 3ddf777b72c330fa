export {
  SEED_OUTBOUND_LISTENER,
  SEED_TUNNEL_LISTENER,
  SEED_OUTBOUND_INTERNAL_CLUSTER,
  SEED_TUNNEL_CLUSTER,
  SEED_CLUSTER_LOAD_ASSIGNMENT,
  SEED_RESOURCES,
} from './seed-resources.js';
export { FakeAdsServer } from './fake-ads-server.js';
export { nextUpdate } from './wait.js';
