export { generateWaypointConfig, waypointGatewayOfPod, waypointIdentity, servicesOfWaypoint } from './waypoint.js';
export type { WaypointConfig } from './waypoint.js';
export { gatewayDurationToProto, routesOf } from './routes.js';
export { httpRbacFilters, policiesForWaypointService } from './rbac.js';
export {
  CONNECT_TERMINATE,
  CONNECT_ORIGINATE,
  MAIN_INTERNAL,
  SNIFFED_HTTP1,
  SNIFFED_H2C,
  WAYPOINT_ADMIN_PORT,
  WAYPOINT_READINESS_PORT,
  inboundVipName,
  parseInboundVipName,
} from './names.js';
