/** The sample workload over real sockets on loopback: HTTP report, upstream chain, TCP banner + echo. */
import { request } from 'node:http';
import { connect as h2connect } from 'node:http2';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '@mesh/testing';
import { ClientConnectionReader, OPCODE, encodeFrame, newKey, startSampleWorkload, type HttpAnswer, type SampleWorkload } from '../src/index.js';

const started: SampleWorkload[] = [];
afterEach(() => {
  for (const s of started.splice(0)) s.destroy();
});

async function start(pod: string, upstreams: string[] = [], serverFirstDelayMs?: number, httpAnswer?: HttpAnswer): Promise<{ port: number }> {
  const server = await startSampleWorkload({
    workload: { pod, namespace: 'default', node: 'node-a' },
    listen: [{ host: '127.0.0.1', port: 0 }],
    upstreams,
    ...(serverFirstDelayMs ? { serverFirstDelayMs } : {}),
    ...(httpAnswer ? { httpAnswer } : {}),
  });
  started.push(server);
  return { port: server.addresses()[0]!.port };
}

function get(port: number, path = '/', headers: Record<string, string> = {}): Promise<{ status: number; body: string; type: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']), headers: res.headers }));
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

describe('sample workload as the conformance suite\'s echo backend', () => {
  it('--http-answer echo: path, host, method, proto, canonical headers, namespace and pod', async () => {
    const { port } = await start('infra-backend-v1', [], undefined, 'echo');
    const res = await get(port, '/path?q=1', { host: 'echo.example', 'x-test': 'yes' });
    expect(res.type).toBe('application/json');
    expect(JSON.parse(res.body)).toMatchObject({ path: '/path?q=1', host: 'echo.example', method: 'GET', proto: 'HTTP/1.1', headers: { 'X-Test': ['yes'] }, namespace: 'default', pod: 'infra-backend-v1' });
    expect(JSON.parse(res.body).headers).not.toHaveProperty('Host');
  });

  it('X-Echo-Set-Header, /status/<code> and ?delay= in either answer', async () => {
    const { port } = await start('productpage-v1');
    expect((await get(port, '/', { 'x-echo-set-header': 'X-Header-Set: set' })).headers).toMatchObject({ 'x-header-set': 'set' });
    expect((await get(port, '/status/418')).status).toBe(418);
    const started = performance.now();
    await get(port, '/?delay=300ms');
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect((await get(port, '/?delay=later')).status).toBe(400);
  });

  it('simulates a backend that recovers: the first succeedAfter requests of a uuid fail', async () => {
    const { port } = await start('infra-backend-v3', [], undefined, 'echo');
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await get(port, '/retry?responseCode=503&succeedAfter=2&uuid=k')).status);
    expect(statuses).toEqual([503, 503, 200]);
  });

  it('serves HTTP/2 with prior knowledge (h2c) on the same port', async () => {
    const { port } = await start('infra-backend-v1', [], undefined, 'echo');
    const session = h2connect(`http://127.0.0.1:${port}`);
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const req = session.request({ ':path': '/h2?x=1', 'x-test': 'h2' });
        let text = '';
        req.setEncoding('utf8');
        req.on('data', (c: string) => (text += c));
        req.once('end', () => resolve(text));
        req.once('error', reject);
        req.end();
      });
      expect(JSON.parse(body)).toMatchObject({ path: '/h2?x=1', proto: 'HTTP/2.0', headers: { 'X-Test': ['h2'] }, pod: 'infra-backend-v1' });
      expect(JSON.parse(body).headers).not.toHaveProperty(':path');
    } finally {
      session.close();
    }
  });

  it('a WebSocket echoes text and binary messages', async () => {
    const { port } = await start('infra-backend-v1', [], undefined, 'echo');
    const socket = connect(port, '127.0.0.1');
    const key = newKey();
    socket.write(`GET /ws HTTP/1.1\r\nhost: echo\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: ${key}\r\n\r\n`);
    const reader = new ClientConnectionReader();
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    socket.write(encodeFrame({ opcode: OPCODE.text, payload: Buffer.from('Websocket Support!'), mask: true }));
    socket.write(encodeFrame({ opcode: OPCODE.binary, payload: Buffer.from([1, 2, 3, 4, 5, 6, 7]), mask: true }));
    socket.write(encodeFrame({ opcode: OPCODE.binary, payload: Buffer.alloc(70_000, 7), mask: true }));
    await waitFor(() => reader.frames.length >= 3, { what: 'three echoed frames', lastSeen: () => ({ head: reader.head, frames: reader.frames.map((f) => [f.opcode, f.payload.length]) }) }).finally(() => socket.destroy());
    expect(reader.head).toMatch(/^HTTP\/1\.1 101 /);
    expect(reader.accepted(key)).toBe(true);
    expect(reader.frames.map((f) => [f.opcode, f.payload.length])).toEqual([
      [OPCODE.text, 18],
      [OPCODE.binary, 7],
      [OPCODE.binary, 70_000],
    ]);
    expect(reader.frames[0]?.payload.toString()).toBe('Websocket Support!');
  });
});

