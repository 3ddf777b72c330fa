/**
 * The set-up's machinery without the network: the step runner (one line per step that acted,
 * nothing when all is there, one set-up per checkout at a time), atomic installs (a failure or a
 * killed run leaves nothing the next run mistakes for done), fetching a pinned package (a fake
 * npm on PATH stands in for the registry), and the steps' pure parts.
 */
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile, chmod } from 'node:fs/promises';
import { existsSync, readlinkSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fetchPackage, hashFiles, installDirectory, integrityOf, SetupError, toolsDir, which } from './lib.mjs';
import { describeFailure, runSteps, type Context, type Step } from './runner.mjs';
import { debianStep, missingPackages } from './steps/debian.mjs';
import { isSupportedNode } from './steps/node.mjs';
import { pnpmPin } from './steps/pnpm.mjs';
import { dependencies } from './steps/dependencies.mjs';
import { goModuleFiles, goTool } from './go-tool.mjs';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mesh-setup-test-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function context(overrides: Partial<Context> = {}): Context {
  return { root: dir, tools: join(dir, 'tools'), isRoot: false, env: process.env, stateDir: join(dir, '.state', 'setup'), ...overrides };
}

/** A step that is done once its marker file exists; `run` makes it (after `delayMs`). */
function markerStep(name: string, options: { profile?: 'dev' | 'test'; fail?: boolean; delayMs?: number } = {}): Step & { runs: number } {
  const step = {
    name,
    profile: options.profile ?? 'dev',
    runs: 0,
    check: (ctx: Context) => (existsSync(join(ctx.root, name)) ? undefined : `no ${name}`),
    run: async (ctx: Context) => {
      step.runs++;
      await new Promise((resolve) => setTimeout(resolve, options.delayMs ?? 0));
      if (options.fail) throw new SetupError(`${name} cannot be made`, `make ${name} by hand`);
      await writeFile(join(ctx.root, name), '');
      return `made ${name}`;
    },
  };
  return step;
}

describe('runSteps', () => {
  it('says one line per step that acted, then nothing once all is there', async () => {
    const steps = [markerStep('a'), markerStep('b')];
    let said = '';
    expect(await runSteps({ steps, profile: 'dev', ctx: context(), say: (t) => (said += t) })).toEqual(['a', 'b']);
    expect(said).toMatch(/^setup: a: no a… made a \(\d+ ms\)\nsetup: b: no b… made b \(\d+ ms\)\n$/);
    said = '';
    expect(await runSteps({ steps, profile: 'dev', ctx: context(), say: (t) => (said += t) })).toEqual([]);
    expect(said).toBe('');
  });

  it('runs test-profile steps only for the test profile', async () => {
    const tool = markerStep('tool', { profile: 'test' });
    await runSteps({ steps: [markerStep('a'), tool], profile: 'dev', ctx: context(), say: () => undefined });
    expect(tool.runs).toBe(0);
    await runSteps({ steps: [markerStep('a'), tool], profile: 'test', ctx: context(), say: () => undefined });
    expect(tool.runs).toBe(1);
  });

  it('stops at a failing step, releases the lock, and says the problem, the fix and nothing after it', async () => {
    const after = markerStep('after');
    let said = '';
    const failure = await runSteps({ steps: [markerStep('broken', { fail: true }), after], profile: 'dev', ctx: context(), say: (t) => (said += t) }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(SetupError);
    expect(said).toBe('setup: broken: no broken… failed\n');
    expect(describeFailure(failure, dir)).toBe('setup: broken cannot be made\n  fix: make broken by hand\n');
    expect(after.runs).toBe(0);
    expect(existsSync(join(dir, '.state', 'setup', 'lock'))).toBe(false);
  });

  it('two set-ups of one checkout at once: the second waits for the first and then finds it done', async () => {
    const slow = markerStep('slow', { delayMs: 400 });
    let second = '';
    const first = runSteps({ steps: [slow], profile: 'dev', ctx: context(), say: () => undefined });
    const lockPid = join(dir, '.state', 'setup', 'lock', 'pid');
    for (const deadline = Date.now() + 10_000; !existsSync(lockPid) && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 10));
    const acted = await runSteps({ steps: [slow], profile: 'dev', ctx: context(), say: (t) => (second += t) });
    await first;
    expect(slow.runs).toBe(1);
    expect(acted).toEqual([]);
    expect(second).toBe(`setup: waiting for the set-up running in pid ${process.pid}…\n`);
  });

  it('takes over the lock a killed set-up left', async () => {
    await mkdir(join(dir, '.state', 'setup', 'lock'), { recursive: true });
    await writeFile(join(dir, '.state', 'setup', 'lock', 'pid'), String(await deadPid()));
    expect(await runSteps({ steps: [markerStep('a')], profile: 'dev', ctx: context(), say: () => undefined })).toEqual(['a']);
  });
});

/** The pid of a process that has exited. */
function deadPid(): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('true');
    child.once('exit', () => resolve(child.pid!));
  });
}

describe('hashFiles', () => {
  it('hashes two checkouts of the same files alike when names count relative to each checkout', async () => {
    const checkouts = [join(dir, 'one'), join(dir, 'two')];
    for (const root of checkouts) {
      await mkdir(join(root, 'tools', 'x'), { recursive: true });
      await writeFile(join(root, 'tools', 'x', 'main.go'), 'package main\n');
    }
    const [one, two] = checkouts.map((root) => [join(root, 'tools', 'x', 'main.go')]);
    expect(await hashFiles(one!, '', checkouts[0])).toBe(await hashFiles(two!, '', checkouts[1]));
    expect(await hashFiles(one!)).not.toBe(await hashFiles(two!));
    await writeFile(two![0]!, 'package main // changed\n');
    expect(await hashFiles(one!, '', checkouts[0])).not.toBe(await hashFiles(two!, '', checkouts[1]));
  });
});

describe('installDirectory', () => {
  it('a failing fill leaves neither the directory nor a partial one', async () => {
    const dest = join(dir, 'tools', 'thing-1.0');
    await expect(installDirectory(dest, async (d) => {
      await writeFile(join(d, 'half'), '');
      throw new Error('interrupted');
    })).rejects.toThrow('interrupted');
    expect(await readdir(join(dir, 'tools'))).toEqual([]);
  });

  it('removes what a killed run left and installs completely', async () => {
    const dest = join(dir, 'tools', 'thing-1.0');
    const leftover = join(dir, 'tools', `thing-1.0.partial-${await deadPid()}-abcd`);
    await mkdir(leftover, { recursive: true });
    await installDirectory(dest, (d) => writeFile(join(d, 'bin'), 'complete'));
    expect(await readdir(join(dir, 'tools'))).toEqual(['thing-1.0']);
    expect(await readFile(join(dest, 'bin'), 'utf8')).toBe('complete');
  });

  it('keeps the copy another process finished first', async () => {
    const dest = join(dir, 'tools', 'thing-1.0');
    await installDirectory(dest, async (d) => {
      await installDirectory(dest, (other) => writeFile(join(other, 'bin'), 'first'));
      await writeFile(join(d, 'bin'), 'second');
    });
    expect(await readFile(join(dest, 'bin'), 'utf8')).toBe('first');
    expect(await readdir(join(dir, 'tools'))).toEqual(['thing-1.0']);
  });

  it('waits for another live process filling the same directory instead of filling it twice', async () => {
    const dest = join(dir, 'tools', 'thing-1.0');
    const other = spawn('sleep', ['30']);
    try {
      const theirs = join(dir, 'tools', `thing-1.0.partial-${other.pid}-abcd`);
      await mkdir(theirs, { recursive: true });
      let filled = false;
      const ours = installDirectory(dest, async () => {
        filled = true;
      });
      // The other process finishes: its copy is renamed into place.
      await new Promise((resolve) => setTimeout(resolve, 300));
      await writeFile(join(theirs, 'bin'), 'theirs');
      await rename(theirs, dest);
      await ours;
      expect(filled).toBe(false);
      expect(await readFile(join(dest, 'bin'), 'utf8')).toBe('theirs');
    } finally {
      other.kill();
    }
  });

  it('fills the directory itself when the other process dies without finishing', async () => {
    const dest = join(dir, 'tools', 'thing-1.0');
    const other = spawn('sleep', ['30']);
    try {
      await mkdir(join(dir, 'tools', `thing-1.0.partial-${other.pid}-abcd`), { recursive: true });
      const ours = installDirectory(dest, (d) => writeFile(join(d, 'bin'), 'ours'));
      await new Promise((resolve) => setTimeout(resolve, 300));
      other.kill();
      await ours;
      expect(await readFile(join(dest, 'bin'), 'utf8')).toBe('ours');
    } finally {
      other.kill();
    }
  });
});

describe('fetchPackage (a fake npm on PATH stands in for the registry)', () => {
  async function fakeNpm(script: string): Promise<NodeJS.ProcessEnv> {
    const bin = join(dir, 'fake-bin');
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, 'npm'), `#!/bin/sh\n${script}\n`);
    await chmod(join(bin, 'npm'), 0o755);
    return { ...process.env, PATH: `${bin}:/usr/bin:/bin` };
  }

  /** A package tarball as the registry serves it (package/…), made with tar. */
  async function tarball(): Promise<string> {
    const src = join(dir, 'src', 'package', 'bin');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'tool'), 'tool v1');
    const file = join(dir, 'tool-1.0.0.tgz');
    await new Promise((resolve, reject) => spawn('tar', ['-czf', file, '-C', join(dir, 'src'), 'package']).once('exit', (code) => (code === 0 ? resolve(code) : reject(new Error(`tar ${code}`)))));
    return file;
  }

  /** npm pack's behaviour: the tarball into --pack-destination, its file name on stdout. */
  const packInto = (file: string) => `cp ${file} "$4" && echo tool-1.0.0.tgz`;

  it('unpacks the package when it matches the pinned integrity', async () => {
    const file = await tarball();
    const env = await fakeNpm(packInto(file));
    const dest = join(dir, 'tools', 'tool-1.0.0');
    const integrity = await integrityOf(file);
    await installDirectory(dest, (d) => fetchPackage({ name: 'tool', version: '1.0.0', integrity, dir: d, log: join(dir, 'log'), env }));
    expect(await readFile(join(dest, 'bin', 'tool'), 'utf8')).toBe('tool v1');
    expect(existsSync(join(dest, '.download'))).toBe(false);
  });

  it('a tarball that does not match the pin installs nothing', async () => {
    const env = await fakeNpm(packInto(await tarball()));
    const dest = join(dir, 'tools', 'tool-1.0.0');
    const failure = await installDirectory(dest, (d) => fetchPackage({ name: 'tool', version: '1.0.0', integrity: 'sha512-bm90IHRoaXM=', dir: d, log: join(dir, 'log'), env })).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(SetupError);
    expect((failure as SetupError).message).toMatch(/^tool 1\.0\.0 from the registry does not match its pinned integrity/);
    expect(await readdir(join(dir, 'tools'))).toEqual([]);
  });

  it('no registry: says so and how to fix it', async () => {
    const env = await fakeNpm('echo "npm error code ENOTFOUND" >&2; echo "npm error network request to https://registry.npmjs.org/tool failed" >&2; exit 1');
    const failure = await fetchPackage({ name: 'tool', version: '1.0.0', integrity: 'sha512-x', dir, log: join(dir, 'log'), env }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(SetupError);
    expect((failure as SetupError).message).toBe('cannot reach the npm registry to fetch tool 1.0.0');
    expect((failure as SetupError).fix).toMatch(/npm config get registry/);
    expect(await readFile(join(dir, 'log'), 'utf8')).toContain('ENOTFOUND');
  });

  it('a TLS-intercepting proxy whose certificate Node does not trust: says so and how to trust it', async () => {
    const env = await fakeNpm('echo "npm ERR! code SELF_SIGNED_CERT_IN_CHAIN" >&2; echo "npm ERR! request to https://registry.npmjs.org/tool failed, reason: self-signed certificate in certificate chain" >&2; exit 1');
    const failure = await fetchPackage({ name: 'tool', version: '1.0.0', integrity: 'sha512-x', dir, log: join(dir, 'log'), env }).catch((err: unknown) => err);
    expect((failure as SetupError).message).toBe("the npm registry's TLS certificate is not trusted here (fetching tool 1.0.0)");
    expect((failure as SetupError).fix).toMatch(/NODE_EXTRA_CA_CERTS/);
  });

  it('any other npm failure: its exit status and last lines', async () => {
    const env = await fakeNpm('echo "npm ERR! code E404" >&2; exit 1');
    const failure = await fetchPackage({ name: 'tool', version: '1.0.0', integrity: 'sha512-x', dir, log: join(dir, 'log'), env }).catch((err: unknown) => err);
    expect((failure as SetupError).message).toMatch(/^`npm pack --loglevel=error .*` failed \(exit status 1\):\n {4}npm ERR! code E404$/);
  });

  it('no npm: names it and the Debian package', async () => {
    const failure = await fetchPackage({ name: 'tool', version: '1.0.0', integrity: 'sha512-x', dir, log: join(dir, 'log'), env: { PATH: join(dir, 'nothing') } }).catch((err: unknown) => err);
    expect((failure as SetupError).message).toMatch(/^npm is not on PATH/);
    expect((failure as SetupError).fix).toMatch(/apt-get install npm/);
  });
});

describe('the steps\' pure parts', () => {
  it('Node 24 LTS is 24.11 and later 24.x', () => {
    expect(['24.11.0', '24.22.3', '24.30.1'].map(isSupportedNode)).toEqual([true, true, true]);
    expect(['20.20.2', '22.12.0', '24.10.0', '26.1.0'].map(isSupportedNode)).toEqual([false, false, false, false]);
  });

  it('the tools directory: MESH_TOOLS_DIR, else /opt for root, else the user\'s data directory', () => {
    expect(toolsDir({ MESH_TOOLS_DIR: '/x/tools' }, 1000)).toBe('/x/tools');
    expect(toolsDir({ HOME: '/home/u' }, 0)).toBe('/opt/ambient-mesh-ts');
    expect(toolsDir({ HOME: '/home/u' }, 1000)).toBe('/home/u/.local/share/ambient-mesh-ts');
    expect(toolsDir({ HOME: '/home/u', XDG_DATA_HOME: '/data' }, 1000)).toBe('/data/ambient-mesh-ts');
  });

  it('Debian packages: the missing programs\' packages, root-only ones only as root', () => {
    const needs = [
      { what: 'sh', package: 'dash' },
      { what: 'no-such-program-here', package: 'nothing' },
      { what: 'no-such-root-program', package: 'rootthing', root: true },
      { what: '/no/such/header.h', package: 'headers' },
    ];
    expect(missingPackages(false, '/bin', needs)).toEqual(['nothing', 'headers']);
    expect(missingPackages(true, '/bin', needs)).toEqual(['nothing', 'rootthing', 'headers']);
    expect(which('sh', '/nowhere', { system: true })).toMatch(/\/sh$/);
  });

  it('pnpm\'s pin comes from packageManager, with its sha512', async () => {
    await writeFile(join(dir, 'package.json'), JSON.stringify({ packageManager: `pnpm@10.34.8+sha512.${'ab'.repeat(64)}` }));
    expect(pnpmPin(dir)).toEqual({ version: '10.34.8', integrity: `sha512-${Buffer.from('ab'.repeat(64), 'hex').toString('base64')}` });
    await writeFile(join(dir, 'package.json'), JSON.stringify({ packageManager: 'pnpm@10.34.8' }));
    expect(() => pnpmPin(dir)).toThrow(/packageManager is "pnpm@10.34.8", not pnpm@<version>\+sha512/);
  });

  it('dependencies: installed again when a workspace package.json, the lockfile or Node changes', async () => {
    await writeFile(join(dir, 'pnpm-workspace.yaml'), 'packages:\n  - packages/*\n  - e2e\n');
    await mkdir(join(dir, 'packages', 'a'), { recursive: true });
    await mkdir(join(dir, 'e2e'), { recursive: true });
    for (const file of ['package.json', 'pnpm-lock.yaml', 'packages/a/package.json', 'e2e/package.json']) await writeFile(join(dir, file), '{}');
    const ctx = context({ node: { bin: '/n/bin/node', dir: '/n', version: '24.22.3' }, pnpm: { dir: '/p', version: '10.34.8', cjs: '/p/bin/pnpm.cjs' } });
    expect(await dependencies.check(ctx)).toBe('no node_modules');
    // What run() writes after a successful install:
    const files = ['.npmrc', 'e2e/package.json', 'package.json', 'packages/a/package.json', 'pnpm-lock.yaml', 'pnpm-workspace.yaml'].map((f) => join(dir, f));
    await mkdir(join(dir, 'node_modules'));
    await writeFile(join(dir, 'node_modules', '.mesh-setup-stamp'), await hashFiles(files, 'node 24.22.3 pnpm 10.34.8'));
    expect(await dependencies.check(ctx)).toBeUndefined();
    await writeFile(join(dir, 'packages', 'a', 'package.json'), '{"dependencies":{"x":"1"}}');
    expect(await dependencies.check(ctx)).toMatch(/changed/);
    await writeFile(join(dir, 'packages', 'a', 'package.json'), '{}');
    expect(await dependencies.check({ ...ctx, node: { bin: '/n/bin/node', dir: '/n', version: '24.23.0' } })).toMatch(/changed/);
  });
});

describe('goTool: a Go test tool is one line in steps.mjs (a fake go on PATH stands in for Go)', () => {
  const tool = goTool({ name: 'peer', module: 'example.com/peer/cmd/peer/v2', version: 'v2.1.0' });

  async function fakeGo(script: string): Promise<NodeJS.ProcessEnv> {
    const bin = join(dir, 'fake-bin');
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, 'go'), `#!/bin/sh\n${script}\n`);
    await chmod(join(bin, 'go'), 0o755);
    return { PATH: `${bin}:/usr/bin:/bin` };
  }
  const link = () => join(dir, '.state', 'tools', 'peer');

  it('builds with `go install module@version` into <tools>/<name>-<version> and links it at .state/tools/<name>', async () => {
    const env = await fakeGo('echo "$@" > "$GOBIN/args"; echo "$GOMODCACHE $GOTOOLCHAIN" >> "$GOBIN/args"; printf "#!/bin/sh\\n" > "$GOBIN/peer"');
    const ctx = context({ env });
    expect(await tool.check(ctx)).toBe('peer v2.1.0 is not built');
    expect(await tool.run(ctx, '')).toBe(`built peer in ${join(dir, 'tools', 'peer-v2.1.0')}, linked .state/tools/peer`);
    expect(await readFile(join(dir, 'tools', 'peer-v2.1.0', 'args'), 'utf8')).toBe(`install example.com/peer/cmd/peer/v2@v2.1.0\n${join(dir, 'tools', 'go', 'mod')} local\n`);
    expect(readlinkSync(link())).toBe(join(dir, 'tools', 'peer-v2.1.0', 'peer'));
    expect(await tool.check(ctx)).toBeUndefined();
    // Another checkout finds it built and only links it.
    await rm(join(dir, '.state'), { recursive: true });
    expect(await tool.check(ctx)).toBe('.state/tools/peer does not point at it');
    expect(await tool.run(ctx, '')).toBe('linked .state/tools/peer');
  });

  it('a module of this repository: versioned by its files, built with go build there', async () => {
    await mkdir(join(dir, 'tools', 'src-peer'), { recursive: true });
    await writeFile(join(dir, 'tools', 'src-peer', 'go.mod'), 'module example.com/peer\n');
    await writeFile(join(dir, 'tools', 'src-peer', 'main.go'), 'package main\n');
    const local = goTool({ name: 'peer', dir: 'tools/src-peer' });
    const ctx = context({ env: await fakeGo('echo "$@ in $(pwd)" > "$3.args"; printf "#!/bin/sh\\n" > "$3"') });
    const before = await local.check(ctx);
    expect(before).toBe('peer (tools/src-peer) is not built');
    expect(await local.run(ctx, '')).toMatch(/^built peer in .*\/peer-src-[0-9a-f]{12}, linked \.state\/tools\/peer$/);
    const built = readlinkSync(link());
    expect(await readFile(`${built}.args`, 'utf8')).toMatch(new RegExp(`^build -o .*/peer \\. in ${join(dir, 'tools', 'src-peer')}\n$`));
    // An edit to the module is a new version.
    await writeFile(join(dir, 'tools', 'src-peer', 'main.go'), 'package main // edited\n');
    expect(await local.check(ctx)).toBe('peer (tools/src-peer) is not built');
  });

  it('several programs of one module: each its package, with the linker flags, a new version when the flags change', async () => {
    await mkdir(join(dir, 'tools', 'src-kube', 'etcd'), { recursive: true });
    await writeFile(join(dir, 'tools', 'src-kube', 'go.mod'), 'module example.com/kube\n');
    await writeFile(join(dir, 'tools', 'src-kube', 'etcd', 'main.go'), 'package main\n');
    const ctx = context({ env: await fakeGo('echo "$@" > "$5.args"; printf "#!/bin/sh\\n" > "$5"') });
    const etcd = (ldflags: string) => goTool({ name: 'etcd', dir: 'tools/src-kube', package: './etcd', ldflags });
    expect(await etcd('-X v.gitVersion=v1.37.2').run(ctx, '')).toMatch(/^built etcd in .*\/etcd-src-[0-9a-f]{12}, linked \.state\/tools\/etcd$/);
    const built = readlinkSync(join(dir, '.state', 'tools', 'etcd'));
    expect(await readFile(`${built}.args`, 'utf8')).toMatch(/^build -ldflags -X v\.gitVersion=v1\.37\.2 -o \S+\/etcd \.\/etcd\n$/);
    expect(await etcd('-X v.gitVersion=v1.37.2').check(ctx)).toBeUndefined();
    expect(await etcd('-X v.gitVersion=v1.38.0').check(ctx)).toBe('etcd (tools/src-kube) is not built');
  });

  it('a module\'s files: fetched with go mod download and linked as a directory; a failure links nothing', async () => {
    const moduleDir = join(dir, 'tools', 'go', 'mod', 'example.com', 'api@v1.32.0');
    await mkdir(moduleDir, { recursive: true });
    const files = goModuleFiles({ name: 'example-api', module: 'example.com/api', version: 'v1.32.0' });
    const ctx = context({ env: await fakeGo(`echo "go: downloading example.com/api v1.32.0" >&2; echo "$@" > ${join(dir, 'args')}; printf '{"Path": "example.com/api", "Dir": "${moduleDir}"}\\n'`) });
    expect(await files.check(ctx)).toBe('example.com/api@v1.32.0 is not fetched');
    expect(await files.run(ctx, '')).toBe('fetched example.com/api@v1.32.0, linked .state/tools/example-api');
    expect(await readFile(join(dir, 'args'), 'utf8')).toBe('mod download -json example.com/api@v1.32.0\n');
    expect(readlinkSync(join(dir, '.state', 'tools', 'example-api'))).toBe(moduleDir);
    expect(await files.check(ctx)).toBeUndefined();
    // Another version is fetched again.
    expect(await goModuleFiles({ name: 'example-api', module: 'example.com/api', version: 'v1.33.0' }).check(ctx)).toBe('example.com/api@v1.33.0 is not fetched');
    const failing = context({ env: await fakeGo('echo "go: example.com/api@v9.0.0: not found" >&2; exit 1'), root: join(dir, 'other') });
    await expect(goModuleFiles({ name: 'example-api', module: 'example.com/api', version: 'v9.0.0' }).run(failing, '')).rejects.toThrow(/go mod download -json example\.com\/api@v9\.0\.0` failed, so example-api is not fetched .*\n.*not found/);
    expect(existsSync(join(dir, 'other', '.state', 'tools', 'example-api'))).toBe(false);
  });

  it('a failed build leaves nothing the next check takes for built, and the runner goes on (optional)', async () => {
    const env = await fakeGo('echo "go: example.com/peer@v2.1.0: dial tcp: lookup proxy.golang.org: no such host" >&2; exit 1');
    let said = '';
    const after = markerStep('after');
    expect(await runSteps({ steps: [tool, after], profile: 'test', ctx: context({ env }), say: (t) => (said += t) })).toEqual(['after']);
    expect(said).toMatch(/^setup: peer: peer v2\.1\.0 is not built… skipped: `go install example\.com\/peer\/cmd\/peer\/v2@v2\.1\.0` failed, so the test tool peer is not built \(its tests skip\):\n.*no such host\n {2}fix: .*\n {2}log: \.state\/setup\/peer\.log\nsetup: after: /);
    expect(await readdir(join(dir, 'tools'))).toEqual([]);
  });

  it('no Go: names it and where to get it, once; quiet after that until Go is on PATH', async () => {
    const ctx = context({ env: { PATH: join(dir, 'nothing') } });
    let said = '';
    await runSteps({ steps: [tool], profile: 'test', ctx, say: (t) => (said += t) });
    expect(said).toMatch(/^setup: peer: peer v2\.1\.0 is not built… skipped: Go is not on PATH, so the test tool peer is not built \(its tests skip\)\n {2}fix: install Go \(https:\/\/go\.dev\/dl.*until then this is not said again\n$/);
    said = '';
    expect(await runSteps({ steps: [tool], profile: 'test', ctx, say: (t) => (said += t) })).toEqual([]);
    expect(said).toBe('');
    // Go appears: the step acts again.
    const withGo = context({ env: await fakeGo('printf "#!/bin/sh\\n" > "$GOBIN/peer"') });
    expect(await tool.check(withGo)).toBe('peer v2.1.0 is not built');
  });
});

describe('Debian packages: the errors a user can act on (a fake apt-get stands in)', () => {
  const needs = [{ what: 'no-such-program-here', package: 'thing' }];

  async function fakeAptGet(script: string): Promise<{ aptGet: string; bin: string }> {
    const bin = join(dir, 'fake-bin');
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, 'apt-get'), `#!/bin/sh\n${script}\n`);
    await chmod(join(bin, 'apt-get'), 0o755);
    return { aptGet: join(bin, 'apt-get'), bin };
  }

  it('not root: names the packages and the command that installs them', async () => {
    const { aptGet } = await fakeAptGet('exit 1');
    const step = debianStep(needs, () => aptGet);
    const ctx = context({ env: { PATH: join(dir, 'nothing') } });
    expect(step.check(ctx)).toBe('missing thing');
    const failure = (await step.run(ctx, '').catch((err: unknown) => err)) as SetupError;
    expect(failure.message).toBe('not root: cannot install the Debian packages thing');
    expect(failure.fix).toBe('run `sudo apt-get install --no-install-recommends thing` (or run this command as root once), then run again');
  });

  it('no apt-get: an unsupported OS, named, with what to install by hand', async () => {
    const failure = (await debianStep(needs, () => undefined).run(context({ isRoot: true, env: { PATH: join(dir, 'nothing') } }), '').catch((err: unknown) => err)) as SetupError;
    expect(failure.message).toMatch(/^unsupported OS: .* has no apt-get to install thing$/);
  });

  it('as root: installs what is missing, then checks again', async () => {
    const bin = join(dir, 'fake-bin');
    const { aptGet } = await fakeAptGet(`echo "$@" >> ${join(dir, 'apt.log')}; [ "$1" = install ] && printf '#!/bin/sh\\n' > ${bin}/no-such-program-here && chmod +x ${bin}/no-such-program-here; exit 0`);
    const step = debianStep(needs, () => aptGet);
    const ctx = context({ isRoot: true, env: { PATH: `${bin}:/usr/bin:/bin` } });
    expect(await step.run(ctx, '')).toBe('installed thing');
    expect(await readFile(join(dir, 'apt.log'), 'utf8')).toBe('update -qq\ninstall -y -qq --no-install-recommends thing\n');
    expect(step.check(ctx)).toBeUndefined();
  });

  it('as root, apt-get busy or interrupted: says which, and the fix', async () => {
    const busy = await fakeAptGet('echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 42 (apt)" >&2; exit 100');
    const ctx = context({ isRoot: true, env: { PATH: join(dir, 'nothing') } });
    expect(((await debianStep(needs, () => busy.aptGet).run(ctx, '').catch((err: unknown) => err)) as SetupError).message).toBe('apt-get is busy (another package manager holds its lock)');
    const interrupted = await fakeAptGet('[ "$1" = update ] && exit 0; echo "E: dpkg was interrupted, you must manually run \'dpkg --configure -a\' to correct the problem." >&2; exit 100');
    const failure = (await debianStep(needs, () => interrupted.aptGet).run(ctx, '').catch((err: unknown) => err)) as SetupError;
    expect(failure.fix).toBe('run `dpkg --configure -a` as root, then run again');
  });
});
