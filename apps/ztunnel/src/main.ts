#!/usr/bin/env node
/**
 * ztunnel entry point: first the process's runtime settings (runtime.ts) — when they are missing,
 * the process replaces itself (`process.execve`: same pid, descriptors and namespace, so process
 * managers and `kill` see one process) with one that has them — then the proxy (proxy-main.ts),
 * loaded only now so that nothing of it runs twice.
 */
import { planRelaunch } from './runtime.js';

const relaunch = planRelaunch(process.execPath, process.execArgv, process.argv, process.env);
// process.execve exists on Unix from Node 23.11; without it ztunnel runs with V8's defaults.
if (relaunch && typeof process.execve === 'function') process.execve(relaunch.file, relaunch.args, process.env);
await import('./proxy-main.js');
