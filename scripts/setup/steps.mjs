// The set-up's steps, in order. Each is an object with
//   name     what the user sees ("setup: <name>: …")
//   profile  'dev'  — `npm run dev`, `npm test` and every other command need it
//            'test' — only `npm test` and `npm run setup` (test tools, e.g. ones built with a
//                     compiler, kept out of `npm run dev`'s path)
//   check(ctx)       cheap (it runs on every command): undefined when nothing is to do, else
//                    why the step must act ("no node_modules"); it may record what it found in
//                    ctx for later steps (ctx.node, ctx.pnpm)
//   run(ctx, reason) does the work and returns one line saying what it did; throws SetupError
//                    (lib.mjs) naming the missing piece and the fix; must leave nothing
//                    half-made that the next check would take for done (lib.mjs:
//                    installDirectory, writeFileAtomic)
// A test tool is one line here, e.g. a Go program built into the tools directory (go-tool.mjs;
// tests find it at .state/tools/<name>).
import { goModuleFiles, goTool } from './go-tool.mjs';
import { debianPackages, debianPackagesForTests } from './steps/debian.mjs';
import { dependencies } from './steps/dependencies.mjs';
import { binLinks } from './steps/links.mjs';
import { nativeAddon } from './steps/native-addon.mjs';
import { node } from './steps/node.mjs';
import { pnpm } from './steps/pnpm.mjs';

const KUBERNETES_PROGRAMS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl'];
// Without the version stamped in, the programs say v0.0.0-master, which clients cannot parse.
const KUBERNETES_LDFLAGS = ['-s -w', ...['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap((pkg) => [`-X ${pkg}.gitVersion=v1.37.2`, `-X ${pkg}.gitMajor=1`, `-X ${pkg}.gitMinor=37`, `-X ${pkg}.gitTreeState=clean`])].join(' ');

/** @type {readonly import('./runner.mjs').Step[]} */
export const STEPS = [
  debianPackages,
  node,
  pnpm,
  binLinks,
  dependencies,
  nativeAddon,
  debianPackagesForTests,
  // Test tools (profile 'test', optional: their tests skip while they are missing).
  // h2spec, the HTTP/2 conformance suite, against the HBONE port (packages/hbone-core/test/h2spec.test.ts).
  goTool({ name: 'h2spec', module: 'github.com/summerwind/h2spec/cmd/h2spec', version: 'v2.2.1+incompatible' }),
  // Istio's own workload-API types decoding istiod-lite's resources (apps/istiod-lite/test/workloadapi-check.ts).
  goTool({ name: 'workloadapi-check', dir: 'tools/workloadapi-check' }),
  // Istio's own HBONE code (istio.io/istio/pkg/hbone) as client and server (packages/hbone-core/test/istio-interop.test.ts).
  goTool({ name: 'istio-hbone', dir: 'tools/istio-hbone' }),
  // An ADS client on Envoy's own Go protos (go-control-plane), checking istiod-lite's xDS with
  // Envoy's validation rules (apps/istiod-lite/test/go-xds-client.test.ts).
  goTool({ name: 'go-xds-client', dir: 'tools/go-xds-client' }),
  // A real Kubernetes control plane for istiod-lite's Kubernetes config source
  // (apps/istiod-lite/test/kubernetes-source.test.ts): etcd, kube-apiserver, kube-controller-manager
  // and kubectl at Kubernetes v1.37.2, from one module. A cold build (~1 GB of modules) takes
  // ~12 minutes on 2 cores; later set-ups and checkouts reuse the built programs.
  ...KUBERNETES_PROGRAMS.map((name) => goTool({ name, dir: 'tools/kube', package: `./${name}`, ldflags: KUBERNETES_LDFLAGS })),
  // The CustomResourceDefinitions those tests install: Istio's and Gateway API's own, from their Go modules.
  goModuleFiles({ name: 'istio-api', module: 'istio.io/api', version: 'v1.32.0' }),
  goModuleFiles({ name: 'gateway-api', module: 'sigs.k8s.io/gateway-api', version: 'v1.6.3' }),
];
