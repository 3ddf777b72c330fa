export { httpThroughWaypoint, h2cThroughWaypoint, openTunnel } from './client.js';
export type { WaypointClient, HttpAnswer } from './client.js';
export { goldenWaypointConfig } from './golden.js';
export type { GoldenWaypointConfig } from './golden.js';
export { loopbackWaypointResources, caSignerFor } from './loopback.js';
export { asByteStream } from '../proxy/byte-stream.js';
