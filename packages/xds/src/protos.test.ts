import { describe, expect, it } from 'vitest';
import { envoyProtoRoot, lookupMessageType } from './protos.js';

// One test file, one process: the Root starts empty here.
describe('the shared proto Root', () => {
  it('holds the ADS service and the workload API, and the Envoy configuration types only once one is looked up', () => {
    const root = envoyProtoRoot();
    expect(root.lookup('envoy.service.discovery.v3.DeltaDiscoveryResponse')).not.toBeNull();
    expect(root.lookup('istio.workload.Address')).not.toBeNull();
    expect(root.lookup('istio.security.Authorization')).not.toBeNull();
    // What a ztunnel never decodes is not loaded yet.
    expect(root.lookup('envoy.config.listener.v3.Listener')).toBeNull();
    expect(root.lookup('envoy.config.route.v3.RouteConfiguration')).toBeNull();

    expect(lookupMessageType('envoy.config.listener.v3.Listener')?.fullName).toBe('.envoy.config.listener.v3.Listener');
    expect(root.lookup('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager')).not.toBeNull();
    expect(lookupMessageType('envoy.config.listener.v3.NoSuchType')).toBeUndefined();
  });
});
