/**
 * Debug HTTP (15014), like istiod's: /debug/syncz, /debug/config_dump?proxyID=<id>[&include_eds=false],
 * /ready. Read-only JSON.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ConfigSource } from '../config-source/config-source.js';
import { formatManifestError } from '../config-source/config-source.js';
import type { AdsServer } from '../xds/ads-server.js';

export interface DebugServerOptions {
  ads: AdsServer;
  source: ConfigSource;
  isReady: () => boolean;
}

export function createDebugServer(options: DebugServerOptions): Server {
  return createServer((req, res) => {
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
      case '/ready':
        return options.isReady() ? send(200, { ready: true }) : send(503, { ready: false });
      default:
        return send(404, { error: 'not found', endpoints: ['/debug/syncz', '/debug/config_dump?proxyID=', '/debug/config_problems', '/ready'] });
    }
  });
}

export function listenHttp(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
