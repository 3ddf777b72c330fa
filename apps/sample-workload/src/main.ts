#!/usr/bin/env node
/** Entry (`bin: sample-workload`): parse, listen, log one JSON line per connection, stop on SIGINT/SIGTERM. */
import { isMeshError } from '@mesh/errors';
import { parseSampleArgs, SAMPLE_HELP_TEXT } from './args.js';
import { startSampleWorkload } from './server.js';

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseSampleArgs(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`sample-workload: ${isMeshError(err) ? err.message : String(err)}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(SAMPLE_HELP_TEXT);
    return 0;
  }
  const { workload } = parsed.options;
  const line = (entry: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), pod: workload.pod, namespace: workload.namespace, ...entry })}\n`);
  const server = await startSampleWorkload({ ...parsed.options, log: line });
  line({ msg: 'sample workload listening', listen: server.addresses().map((a) => `${a.host}:${a.port}`), upstreams: parsed.options.upstreams });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  server.destroy();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`sample-workload: ${isMeshError(err) ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
