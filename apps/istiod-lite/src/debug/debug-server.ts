/**
 * Debug HTTP (15014), like istiod's: /debug/syncz, /debug/config_dump?proxyID=<id>[&include_eds=false],
 * /debug/config_problems, /debug/route_status, /ready. Read-only JSON, but it lists every proxy
 * and serves any proxy's configuration, so it is an operator surface: istiod.ts serves it on
 * loopback only (@mesh/admin-access `listenOperatorHttp`).
 */
import type { RequestListener } from 'node:http';
import type { ConfigSource } from '../config-source/config-source.js';
import { formatManifestError } from '../config-source/config-source.js';
import { httpRouteStatus } from '@mesh/mesh-model';
import type { AdsServer } from '../xds/ads-server.js';

export interface DebugServerOptions {
  ads: AdsServer;
  source: ConfigSource;
  isReady: () => boolean;
}

export function createDebugHandler(options: DebugServerOptions): RequestListener {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(body, null, 2)}\n`);
    };
    if (req.method !== 'GET') return send(405, { error: 'only GET is supported' });
    switch (url.pathname) {
      case '/debug/syncz':
        return send(200, options.ads.syncz());
      case '/debug/config_dump': {
        const proxyId = url.searchParams.get('proxyID');
        if (!proxyId) return send(400, { error: 'missing ?proxyID=<xDS node id>; /debug/syncz lists connected proxies' });
        const dump = options.ads.configDump(proxyId, url.searchParams.get('include_eds') !== 'false');
        if (!dump) return send(404, { error: `proxy ${proxyId} is not connected` });
        return send(200, dump);
      }
      case '/debug/config_problems':
        return send(200, options.source.problems().map((problem) => ({ ...problem, text: formatManifestError(problem) })));
      case '/debug/route_status': {
        // Gateway API status of every HTTPRoute in force (Accepted / ResolvedRefs per parentRef).
        const snapshot = options.source.current();
        const routes = [...snapshot.httpRoutes.values()].map((route) => ({
          ...httpRouteStatus(snapshot, route),
          source: route.source ? `${route.source.file}:${route.source.line}` : undefined,
        }));
        return send(200, { generation: options.source.generation(), routes });
      }
      case '/ready':
        return options.isReady() ? send(200, { ready: true }) : send(503, { ready: false });
      default:
        return send(404, { error: 'not found', endpoints: ['/debug/syncz', '/debug/config_dump?proxyID=', '/debug/config_problems', '/debug/route_status', '/ready'] });
    }
  };
}
