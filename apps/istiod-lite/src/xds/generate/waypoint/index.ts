export { generateWaypointConfig, waypointGatewayOfPod, waypointIdentity, servicesOfWaypoint } from './waypoint.js';
export type { WaypointConfig } from './waypoint.js';
export { gatewayDurationToProto, routesOf, backendsOfPort, SOURCE_METADATA } from './routes.js';
export { httpRbacFilters, policiesForWaypointService } from './rbac.js';
export {
  SNIFFED_HTTP1,
  SNIFFED_H2C,
  inboundVipName,
} from './names.js';
