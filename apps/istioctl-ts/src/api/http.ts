/**
 * GET JSON from an admin or debug endpoint, never hanging: every request has a deadline, and
 * every failure becomes a MeshError naming the address and what to check. The address is any
 * route meshctl knows (routes.ts): TCP, a Unix socket, TCP inside a network namespace, or a pod's
 * port by port-forward.
 */
import { request } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { isMeshError, MeshError } from '@mesh/errors';
import { describeRoute, openRoute, parseRoute, type PortForwarder } from './routes.js';

/** How long meshctl waits for an admin or debug endpoint before giving up. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;

export interface GetOptions {
  timeoutMs: number;
  /** Who is at the address, for messages: "istiod-lite", "ztunnel-node-a's admin API". */
  what: string;
  /** What the user can do when it is unreachable. */
  hint: string;
  /** GET unless said (admin endpoints that change state, e.g. `POST /logging?level=debug`). */
  method?: 'GET' | 'POST';
  /** For `pod:` addresses (meshctl given a cluster). */
  portForward?: PortForwarder | undefined;
}

export async function getText(address: string, path: string, options: GetOptions): Promise<string> {
  const route = parseRoute(address);
  const where = describeRoute(route);
  let socket: Duplex;
  try {
    socket = await openRoute(route, options.portForward);
  } catch (err) {
    // A failed port-forward already names the pod, the port and the reason.
    if (isMeshError(err) && err.code === 'MESHCTL_ERR_PORT_FORWARD') throw err;
    if (isMeshError(err)) throw new MeshError(err.code, `cannot reach ${options.what} at ${where}: ${err.message}`, { cause: err, ...(err.hint ? { hint: err.hint } : {}), context: { address, path } });
    throw err;
  }
  return new Promise((resolve, reject) => {
    // The host header names the route's address; the socket is already on its way there.
    const req = request({ host: route.kind === 'unix' || route.kind === 'pod' ? 'localhost' : route.host, path, method: options.method ?? 'GET', headers: { accept: 'application/json' }, createConnection: () => socket as Socket });
    const fail = (code: string, message: string, cause?: unknown) =>
      reject(new MeshError(code, message, { cause, hint: options.hint, context: { address, path } }));
    const timer = setTimeout(() => {
      req.destroy();
      fail('MESHCTL_ERR_TIMEOUT', `${options.what} at ${where} did not answer ${path} within ${options.timeoutMs} ms`);
    }, options.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (isMeshError(err)) return reject(err); // the port-forward's own error (kube.ts)
      const why =
        err.code === 'ECONNREFUSED' ? 'connection refused' : err.code === 'EHOSTUNREACH' ? 'host unreachable' : err.code === 'EACCES' ? 'permission denied' : err.code === 'ENOENT' ? 'no such socket' : err.message;
      fail('MESHCTL_ERR_UNREACHABLE', `cannot reach ${options.what} at ${where} (${why})`, err);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (err) => {
        clearTimeout(timer);
        fail('MESHCTL_ERR_UNREACHABLE', `${options.what} at ${where} broke off the answer to ${path}`, err);
      });
      res.on('end', () => {
        clearTimeout(timer);
        const body = Buffer.concat(chunks).toString('utf8');
        if ((res.statusCode ?? 0) >= 400) {
          let detail = body.trim();
          try {
            const parsed = JSON.parse(body) as { error?: unknown };
            if (typeof parsed.error === 'string') detail = parsed.error;
          } catch {
            // not JSON: keep the text
          }
          return reject(
            new MeshError('MESHCTL_ERR_HTTP_STATUS', `${options.what} at ${where} answered ${path} with ${res.statusCode}: ${detail.slice(0, 300)}`, {
              context: { address, path, status: res.statusCode },
            }),
          );
        }
        resolve(body);
      });
    });
    req.end();
  });
}

export async function getJson(address: string, path: string, options: GetOptions): Promise<unknown> {
  const text = await getText(address, path, options);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new MeshError('MESHCTL_ERR_BAD_RESPONSE', `${options.what} at ${describeRoute(parseRoute(address))} answered ${path} with something that is not JSON`, { cause: err, hint: options.hint });
  }
}
