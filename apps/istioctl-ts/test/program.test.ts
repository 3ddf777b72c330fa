import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MESHCTL_VERSION } from '../src/version.js';
import { runCli } from './helpers.js';

const COMMANDS = [
  ['proxy-status'],
  ['analyze'],
  ['waypoint'],
  ...['generate', 'apply', 'delete', 'list', 'status'].map((c) => ['waypoint', c]),
  ['proxy-config'],
  ...['listeners', 'clusters', 'endpoints', 'routes', 'secret', 'all'].map((c) => ['proxy-config', c]),
  ['ztunnel-config'],
  ...['workloads', 'services', 'policies', 'certificates', 'connections', 'all', 'log'].map((c) => ['ztunnel-config', c]),
  ['tunnels'],
  ['experimental'],
  ['x', 'explain'],
  ['version'],
];

describe('meshctl program', () => {
  it.each(COMMANDS)('%s %s --help has examples', async (...command) => {
    const { code, stdout } = await runCli([...command.filter(Boolean), '--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/Examples:\n {2}meshctl /);
  });

  it('istioctl aliases reach the same commands', async () => {
    for (const alias of [['ps'], ['pc', 'l'], ['pc', 'c'], ['pc', 'ep'], ['pc', 'r'], ['pc', 's'], ['pc', 'a'], ['zc', 'services'], ['x', 'explain']]) {
      expect((await runCli([...alias, '--help'])).stdout).toMatch(/^Usage: meshctl /);
    }
  });

  it('an unknown command fails with exit code 1 and a usage hint, nothing on stdout', async () => {
    const { code, stdout, stderr } = await runCli(['proxy-cnofig']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/unknown command 'proxy-cnofig'[\s\S]*\(add --help for usage\)/);
  });

  it('explain without --to says which option is missing', async () => {
    const { code, stderr } = await runCli(['x', 'explain', '--from', 'sleep.default']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/required option '--to <host:port>' not specified/);
  });

  it('the version matches package.json', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(MESHCTL_VERSION).toBe(pkg.version);
    expect((await runCli(['version', '--remote=false'])).stdout).toBe(`client version: ${pkg.version}\n`);
  });

  it('a missing --file is a one-line error', async () => {
    const { code, stderr } = await runCli(['pc', 'l', '--file', '/nonexistent/dump.json'], { readInput: undefined });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error: cannot read \/nonexistent\/dump\.json \(no such file\)/);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });

  const built = fileURLToPath(new URL('../dist/main.js', import.meta.url));
  it.skipIf(!existsSync(built))('output piped into a reader that stops early ends quietly with status 0 (`meshctl … | head -1`)', async () => {
    const child = spawn(process.execPath, [built, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // The reader goes away before meshctl has written: its next write meets a closed pipe.
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(code).toBe(0);
  });
});
