// A test tool written in Go (a conformance suite, a real protocol peer, Istio's own code), built
// into the tools directory — outside the checkout, shared by every checkout, never committed —
// either with `go install <module>@<version>` from the Go module proxy or with `go build` from a
// module kept in this repository (`dir`; its version is a hash of its files). One line in
// steps.mjs adds one:
//   goTool({ name: 'h2spec', module: 'github.com/summerwind/h2spec/cmd/h2spec', version: 'v2.2.1+incompatible' }),
//   goTool({ name: 'workloadapi-check', dir: 'tools/workloadapi-check' }),
// One module directory may hold several programs (`package`: the sub-directory to build) and a
// build may need linker flags (`ldflags`, part of the version: other flags, another build):
//   goTool({ name: 'etcd', dir: 'tools/kube', package: './etcd', ldflags: '-s -w' }),
// A Go module's files that a test reads (not a program) are one line too: goModuleFiles, below.
// The checkout links each at .state/tools/<name> (its pinned version), where tests look for it and
// skip, saying `npm run setup` builds it, while it is missing. These steps are optional: without
// Go, or when the build fails, the set-up says so in one line and goes on (without Go, once: a
// marker in .state/setup keeps later runs quiet until Go is on PATH).
import { existsSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { mkdir, rename, rm, symlink } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { CommandError, exec, hashFiles, installDirectory, SetupError, tail, which, writeFileAtomic } from './lib.mjs';
import { logOf } from './runner.mjs';

/** Where a checkout links its test tools (tests: `<checkout>/.state/tools/<name>`). */
export const TOOL_LINKS_DIR = join('.state', 'tools');

function readlinkOr(/** @type {string} */ path) {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/** Where a checkout links a tool: `<root>/.state/tools/<name>`. */
const toolLink = (/** @type {string} */ root, /** @type {string} */ name) => join(root, TOOL_LINKS_DIR, name);

/** Points the checkout's link at `target`, replacing what it pointed at in one step. */
async function linkTool(/** @type {string} */ root, /** @type {string} */ name, /** @type {string} */ target) {
  const link = toolLink(root, name);
  await mkdir(join(root, TOOL_LINKS_DIR), { recursive: true });
  await rm(`${link}.partial`, { force: true });
  await symlink(target, `${link}.partial`);
  await rename(`${link}.partial`, link);
}

/** The Go environment of every build: caches with the tools, the installed toolchain, no cgo. */
function goEnv(/** @type {import('./runner.mjs').Context} */ ctx) {
  // The module and build caches live with the tools unless the environment names its own:
  // ~/go and the checkout stay untouched.
  return {
    ...ctx.env,
    GOMODCACHE: ctx.env.GOMODCACHE || join(ctx.tools, 'go', 'mod'),
    GOCACHE: ctx.env.GOCACHE || join(ctx.tools, 'go', 'cache'),
    GOFLAGS: '-modcacherw',
    GOTOOLCHAIN: 'local',
    CGO_ENABLED: '0',
  };
}

const noGoMarker = (/** @type {import('./runner.mjs').Context} */ ctx, /** @type {string} */ name) => join(ctx.stateDir, `${name}.no-go`);

/** Without Go it was said once (the marker); quiet until Go is there. */
function quietWithoutGo(/** @type {import('./runner.mjs').Context} */ ctx, /** @type {string} */ name) {
  return !which('go', ctx.env.PATH) && existsSync(noGoMarker(ctx, name));
}

/** The go program, or a SetupError saying how to get it (once: see quietWithoutGo). */
async function requireGo(/** @type {import('./runner.mjs').Context} */ ctx, /** @type {string} */ name, /** @type {string} */ what) {
  const go = which('go', ctx.env.PATH);
  if (!go) {
    await writeFileAtomic(noGoMarker(ctx, name), 'Go was not on PATH\n');
    throw new SetupError(`Go is not on PATH, so the test tool ${name} is not ${what} (its tests skip)`, 'install Go (https://go.dev/dl; its tarball goes to /usr/local/go, add /usr/local/go/bin to PATH), then run again; until then this is not said again');
  }
  await rm(noGoMarker(ctx, name), { force: true });
  return go;
}

/** The files of a Go module directory that its build depends on. */
function moduleFiles(/** @type {string} */ dir, /** @type {string[]} */ files = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) moduleFiles(join(dir, entry.name), files);
    else if (/(\.go|^go\.mod|^go\.sum)$/.test(entry.name)) files.push(join(dir, entry.name));
  }
  return files.sort();
}

/**
 * @param {{name: string, module?: string, version?: string, dir?: string, package?: string, ldflags?: string, binary?: string}} tool
 *   module + version: `go install module@version`; dir: a module directory of this repository, `go build`
 *   package: with dir, the package to build (default `.`); ldflags: `-ldflags` for the build
 *   binary: the program's file name (default: the module path's last element, as `go install` names it; `name` for dir)
 * @returns {import('./runner.mjs').Step}
 */
export function goTool({ name, module, version, dir, package: pkg = '.', ldflags, binary = module ? basename(module.replace(/\/v\d+$/, '')) : name }) {
  if (!dir && !(module && version)) throw new Error(`goTool ${name}: give module and version, or dir`);
  const flags = ldflags ? ['-ldflags', ldflags] : [];
  /** @type {(ctx: import('./runner.mjs').Context) => Promise<string>} */
  const versionOf = async (ctx) =>
    dir ? `src-${(await hashFiles(moduleFiles(join(ctx.root, dir)), ldflags ? `${pkg}\0${ldflags}` : '', ctx.root)).slice(0, 12)}` : `${version}${ldflags ? `-${createHash('sha256').update(ldflags).digest('hex').slice(0, 8)}` : ''}`;
  const installIn = (/** @type {string} */ tools, /** @type {string} */ v) => join(tools, `${name}-${v}`);
  return {
    name,
    profile: 'test',
    optional: true,
    async check(ctx) {
      const target = join(installIn(ctx.tools, await versionOf(ctx)), binary);
      if (!existsSync(target)) {
        // Without Go it was said once (the marker); quiet until Go is there.
        if (quietWithoutGo(ctx, name)) return undefined;
        return `${name} ${dir ? `(${dir})` : version} is not built`;
      }
      return readlinkOr(toolLink(ctx.root, name)) === target ? undefined : `${TOOL_LINKS_DIR}/${name} does not point at it`;
    },
    async run(ctx) {
      const v = await versionOf(ctx);
      const dest = installIn(ctx.tools, v);
      let did = `linked ${TOOL_LINKS_DIR}/${name}`;
      if (!existsSync(join(dest, binary))) {
        const go = await requireGo(ctx, name, 'built');
        const log = logOf(ctx, name);
        const env = goEnv(ctx);
        await installDirectory(dest, async (out) => {
          const [args, cwd] = dir ? [['build', ...flags, '-o', join(out, binary), pkg], join(ctx.root, dir)] : [['install', ...flags, `${module}@${version}`], out];
          await exec(go, args, { log, cwd, env: { ...env, GOBIN: out } }).catch((err) => {
            throw new SetupError(`\`go ${args.join(' ')}\` failed, so the test tool ${name} is not built (its tests skip):\n${tail(err instanceof CommandError ? err.output : String(err))}`, 'see the log (for a download failure: the Go module proxy, `go env GOPROXY`), then run again', { log });
          });
          if (!existsSync(join(out, binary))) throw new SetupError(`building ${name} made no ${binary}`, `set goTool's binary to the program's name in scripts/setup/steps.mjs`, { log });
        });
        did = `built ${name} in ${dest}, ${did}`;
      }
      await linkTool(ctx.root, name, join(dest, binary));
      return did;
    },
  };
}

/**
 * A Go module's files that tests read (the CustomResourceDefinitions Istio and Gateway API publish
 * in their Go modules), fetched with `go mod download module@version` (checked against the Go
 * checksum database) into the module cache beside the tools and linked, as a directory, at
 * .state/tools/<name>. Never copied into the repository.
 * @param {{name: string, module: string, version: string}} files
 * @returns {import('./runner.mjs').Step}
 */
export function goModuleFiles({ name, module, version }) {
  return {
    name,
    profile: 'test',
    optional: true,
    async check(ctx) {
      const target = readlinkOr(toolLink(ctx.root, name));
      if (target?.endsWith(`@${version}`) && isDirectory(target)) return undefined;
      if (quietWithoutGo(ctx, name)) return undefined;
      return `${module}@${version} is not fetched`;
    },
    async run(ctx) {
      const go = await requireGo(ctx, name, 'fetched');
      const log = logOf(ctx, name);
      const args = ['mod', 'download', '-json', `${module}@${version}`];
      const output = await exec(go, args, { log, cwd: tmpdir(), env: goEnv(ctx) }).catch((err) => {
        throw new SetupError(`\`go ${args.join(' ')}\` failed, so ${name} is not fetched (its tests skip):\n${tail(err instanceof CommandError ? err.output : String(err))}`, 'see the log (for a download failure: the Go module proxy, `go env GOPROXY`), then run again', { log });
      });
      const dir = /** @type {{Dir?: string}} */ (JSON.parse(output.slice(output.indexOf('{'), output.lastIndexOf('}') + 1))).Dir;
      if (!dir || !isDirectory(dir)) throw new SetupError(`\`go ${args.join(' ')}\` named no module directory`, 'see the log', { log });
      await linkTool(ctx.root, name, dir);
      return `fetched ${module}@${version}, linked ${TOOL_LINKS_DIR}/${name}`;
    },
  };
}

function isDirectory(/** @type {string} */ path) {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
