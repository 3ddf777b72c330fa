#!/usr/bin/env node
import { runMeshctl } from './program.js';

// Output piped into a reader that stops early (`meshctl proxy-config … | head`): end quietly, as
// other command-line tools do, instead of an unhandled EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? 0);
  });
}

process.exitCode = await runMeshctl(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });
