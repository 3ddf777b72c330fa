import type { FakeMesh } from './mesh-resources.js';

/** The sample mesh of examples/bookinfo as a FakeMesh (addresses from examples/README.md). */
export const BOOKINFO: FakeMesh = {
  pods: [
    { name: 'sleep', ip: '10.77.1.10', node: 'node-a', serviceAccount: 'sleep' },
    { name: 'productpage-v1', ip: '10.77.1.11', node: 'node-a', serviceAccount: 'bookinfo-productpage' },
    { name: 'reviews-v1', ip: '10.77.1.12', node: 'node-a', serviceAccount: 'bookinfo-reviews' },
    { name: 'reviews-v2', ip: '10.77.2.10', node: 'node-b', serviceAccount: 'bookinfo-reviews' },
    { name: 'reviews-v3', ip: '10.77.2.11', node: 'node-b', serviceAccount: 'bookinfo-reviews' },
    { name: 'details-v1', ip: '10.77.2.12', node: 'node-b', serviceAccount: 'bookinfo-details' },
    { name: 'ratings-v1', ip: '10.77.2.13', node: 'node-b', serviceAccount: 'bookinfo-ratings' },
  ],
  services: [
    { name: 'productpage', vip: '10.77.100.10', port: 9080, targetPort: 9080, pods: ['productpage-v1'] },
    { name: 'reviews', vip: '10.77.100.11', port: 9080, targetPort: 9080, protocol: 'http', pods: ['reviews-v1', 'reviews-v2', 'reviews-v3'] },
    { name: 'details', vip: '10.77.100.12', port: 9080, targetPort: 9080, pods: ['details-v1'] },
    { name: 'ratings', vip: '10.77.100.13', port: 9080, targetPort: 9080, pods: ['ratings-v1'] },
  ],
};
