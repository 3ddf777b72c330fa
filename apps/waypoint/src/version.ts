/** This waypoint's version, sent to istiod-lite as node metadata ISTIO_VERSION (`meshctl proxy-status` VERSION); kept in step with package.json by a test. */
export const WAYPOINT_VERSION = '0.1.0';
