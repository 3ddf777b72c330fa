export { buildFakeResources, spiffe, type FakeMesh, type FakePod, type FakeService, type FakeResources } from './mesh-resources.js';
export { BOOKINFO } from './bookinfo.js';
export { modelOf, modelForNode } from './model.js';
export { socks5Connect, Socks5Error } from './socks5-client.js';
export { startNamedEchoServer } from './servers.js';
export { hasIstiodGolden, readIstiodGolden, workloadStoreOf, applyWorkloadGolden, type WorkloadGolden } from './istiod-goldens.js';
