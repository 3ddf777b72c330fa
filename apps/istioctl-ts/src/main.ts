#!/usr/bin/env node
import { runMeshctl } from './program.js';

process.exitCode = await runMeshctl(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });
