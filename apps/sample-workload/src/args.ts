/**
 * Flags and environment → options, parsed once. Flags win over the environment (POD_NAME,
 * POD_NAMESPACE, NODE_NAME, LISTEN, UPSTREAMS), so a container can be configured either way.
 */
import { parseArgs } from 'node:util';
import { MeshError } from '@mesh/errors';
import type { SampleWorkloadOptions } from './server.js';

export const SAMPLE_HELP_TEXT = `Usage: sample-workload --name <pod> --listen <host:port> [options]

The sample mesh's workload: HTTP requests get a report of what the pod saw (its name, the
connection's source and destination, the request headers, and the answers of its upstreams);
any other TCP client gets a one-line banner and then an echo.

Options (environment variable in brackets):
  --name <pod>             (required) [POD_NAME] Pod name to report.
  --namespace <ns>         [POD_NAMESPACE] Default default
  --node <node>            [NODE_NAME] Node to report, when known.
  --listen <host:port>     (required, repeatable) [LISTEN, comma-separated] Where to listen.
  --upstream <url>         (repeatable) [UPSTREAMS, comma-separated] Called for every HTTP
                           request; their answers are included (productpage -> reviews -> ratings).
  --http-answer <kind>     [HTTP_ANSWER] report (default): what the pod saw; echo: the JSON the
                           Gateway API conformance suite's echo server answers with.

Every HTTP request may also ask for ?delay=1s, /status/<code>, response headers with
X-Echo-Set-Header: Name:value, or a simulated failure (?uuid=<key>&succeedAfter=<n>
[&responseCode=500][&delayRetry=100ms]); Upgrade: websocket gets an echoing WebSocket, and
HTTP/2 with prior knowledge (h2c) is served like HTTP/1.1.
  -h, --help               Show this help.
`;

export type SampleArgs = { help: true } | { help: false; options: Omit<SampleWorkloadOptions, 'log'> };

function list(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

function parseListen(text: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:\s]+):(\d+)$/.exec(text);
  const port = Number(match?.[2]);
  if (!match || port > 65_535) throw new MeshError('SAMPLE_ERR_CONFIG', `--listen ${text} is not host:port`, { hint: 'e.g. --listen 10.77.1.11:9080' });
  return { host: (match[1] as string).replace(/^\[|\]$/g, ''), port };
}

export function parseSampleArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): SampleArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        name: { type: 'string' },
        namespace: { type: 'string' },
        node: { type: 'string' },
        listen: { type: 'string', multiple: true },
        upstream: { type: 'string', multiple: true },
        'http-answer': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    throw new MeshError('SAMPLE_ERR_CONFIG', (err as Error).message, { hint: 'see sample-workload --help' });
  }
  if (values.help) return { help: true };
  const pod = values.name ?? env['POD_NAME'];
  if (!pod) throw new MeshError('SAMPLE_ERR_CONFIG', '--name (or POD_NAME) is required', { hint: 'see sample-workload --help' });
  const listen = (values.listen ?? list(env['LISTEN'])).map(parseListen);
  if (listen.length === 0) throw new MeshError('SAMPLE_ERR_CONFIG', '--listen (or LISTEN) is required', { hint: 'e.g. --listen 10.77.1.11:9080' });
  for (const url of values.upstream ?? []) {
    if (!URL.canParse(url)) throw new MeshError('SAMPLE_ERR_CONFIG', `--upstream ${url} is not a URL`);
  }
  const httpAnswer = values['http-answer'] ?? env['HTTP_ANSWER'] ?? 'report';
  if (httpAnswer !== 'report' && httpAnswer !== 'echo') throw new MeshError('SAMPLE_ERR_CONFIG', `--http-answer ${httpAnswer}: expected report or echo`);
  const upstreams = values.upstream ?? list(env['UPSTREAMS']);
  if (httpAnswer === 'echo' && upstreams.length > 0) throw new MeshError('SAMPLE_ERR_CONFIG', '--upstream needs --http-answer report (an echo answer has no room for upstream answers)');
  return {
    help: false,
    options: {
      workload: { pod, namespace: values.namespace ?? env['POD_NAMESPACE'] ?? 'default', node: values.node ?? env['NODE_NAME'] },
      listen,
      upstreams,
      ...(httpAnswer === 'echo' ? { httpAnswer } : {}),
    },
  };
}
