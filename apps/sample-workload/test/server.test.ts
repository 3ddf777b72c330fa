/** The sample workload over real sockets on loopback: HTTP report, upstream chain, TCP banner + echo. */
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startSampleWorkload, type SampleWorkload } from '../src/index.js';

const started: SampleWorkload[] = [];
afterEach(() => {
  for (const s of started.splice(0)) s.destroy();
});

async function start(pod: string, upstreams: string[] = [], serverFirstDelayMs?: number): Promise<{ port: number }> {
  const server = await startSampleWorkload({ workload: { pod, namespace: 'default', node: 'node-a' }, listen: [{ host: '127.0.0.1', port: 0 }], upstreams, ...(serverFirstDelayMs ? { serverFirstDelayMs } : {}) });
  started.push(server);
  return { port: server.addresses()[0]!.port };
}

function get(port: number, path = '/', headers: Record<string, string> = {}): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('sample workload', () => {
  it('answers HTTP with its name, the connection and the headers it received', async () => {
    const { port } = await start('productpage-v1');
    const res = await get(port, '/hello', { 'x-test': 'yes' });
    expect(res.status).toBe(200);
    const lines = res.body.split('\n');
    expect(lines[0]).toBe('productpage-v1.default on node-a answered GET /hello');
    expect(lines[1]).toMatch(new RegExp(`^  connection: 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${port}$`));
    expect(res.body).toContain('    x-test: yes\n');
  });

  it('JSON on request, with the same facts', async () => {
    const { port } = await start('details-v1');
    const res = await get(port, '/?format=json');
    expect(res.type).toBe('application/json');
    expect(JSON.parse(res.body)).toMatchObject({ pod: 'details-v1', namespace: 'default', destination: `127.0.0.1:${port}`, method: 'GET' });
  });

  it('calls its upstreams and nests their answers; a dead upstream is reported, not fatal', async () => {
    const ratings = await start('ratings-v1');
    const reviews = await start('reviews-v1', [`http://127.0.0.1:${ratings.port}/`]);
    const productpage = await start('productpage-v1', [`http://127.0.0.1:${reviews.port}/`, 'http://127.0.0.1:1/']);
    const { body } = await get(productpage.port);
    expect(body).toContain(`  called http://127.0.0.1:${reviews.port}/ -> 200\n    reviews-v1.default on node-a answered GET /`);
    expect(body).toContain(`        ratings-v1.default on node-a answered GET /`);
    expect(body).toMatch(/called http:\/\/127\.0\.0\.1:1\/ -> failed: ECONNREFUSED/);
  });

  it('a TCP client that speaks first gets the banner, then its bytes back (half-close kept)', async () => {
    const { port } = await start('reviews-v2');
    const socket = connect(port, '127.0.0.1');
    socket.end('ping\n');
    let text = '';
    for await (const chunk of socket) text += String(chunk);
    expect(text).toMatch(new RegExp(`^reviews-v2\\.default on node-a source=127\\.0\\.0\\.1:\\d+ destination=127\\.0\\.0\\.1:${port}\\nping\\n$`));
  });

  it('a TCP client that waits is told who answered', async () => {
    const { port } = await start('reviews-v3', [], 50);
    const socket = connect(port, '127.0.0.1');
    const first = await new Promise<string>((resolve) => socket.once('data', (c) => resolve(String(c))));
    socket.destroy();
    expect(first).toMatch(/^reviews-v3\.default on node-a source=/);
  });

  it('an HTTP request that arrives late (a tunnel being set up) is still answered as HTTP', async () => {
    const { port } = await start('ratings-v1', [], 200);
    const socket = connect(port, '127.0.0.1');
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.end('GET /late HTTP/1.1\r\nhost: ratings\r\nconnection: close\r\n\r\n');
    let text = '';
    for await (const chunk of socket) text += String(chunk);
    expect(text).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(text).toContain('ratings-v1.default on node-a answered GET /late');
  });

  it('names the address it cannot listen on', async () => {
    await expect(startSampleWorkload({ workload: { pod: 'x', namespace: 'default' }, listen: [{ host: '192.0.2.123', port: 0 }] })).rejects.toMatchObject({ code: 'SAMPLE_ERR_LISTEN' });
  });
});
