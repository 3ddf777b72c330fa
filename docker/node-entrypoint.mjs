#!/usr/bin/env node
/**
 * PID 1 of a compose node container: makes the container's network namespace a mesh node
 * (named `node`, so ztunnel's --capture-netns can apply its capture plan in it), creates a
 * network namespace per pod joined by a veth pair (the same wiring as @mesh/netfilter's
 * topology: pod eth0 <ip>/32, default via 169.254.1.1 on the node side), starts the sample
 * workload (or the waypoint) in each pod, then ztunnel in transparent mode. Stops everything on
 * SIGTERM (docker stop) and exits with ztunnel's status.
 *
 * Environment (see docker/compose.yaml):
 *   NODE_NAME, NODE_ADDRESS, XDS_ADDRESS, BOOTSTRAP_DIR  as ztunnel's flags
 *   PODS           "name[.namespace]=ip:port[,port] …" sample workloads on this node
 *   WAYPOINT_PODS  "name.namespace=ip/gateway …" waypoint pods on this node and their Gateway:
 *                  each runs with its Gateway's credential, <state-dir>/waypoints/<ns>/<gateway>
 *                  (beside BOOTSTRAP_DIR's nodes/), never the node's
 *   ROUTES         "cidr=via …" other nodes' pod CIDRs and the node that owns each
 *   HOSTS          "name=ip …" Service names → VIPs for the pods' /etc/hosts
 *   UNDERLAY_CIDR  the nodes' network: waypoint pods reach it (istiod-lite) masqueraded as the
 *                  node, since nothing there routes pod CIDRs back (docker's bridge has no routes)
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const env = process.env;
const POD_GATEWAY = '169.254.1.1';
const NODE_NETNS = 'node';
const BOOTSTRAP_WAIT_MS = 30_000;

const log = (msg, extra = {}) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), scope: 'node', msg, ...extra })}\n`);
const run = (...argv) => execFileSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
const inNs = (netns, ...argv) => run('ip', 'netns', 'exec', netns, ...argv);
const words = (text) => (text ?? '').split(/\s+/).filter(Boolean);
function need(name) {
  if (!env[name]) throw new Error(`${name} is required`);
  return env[name];
}

const nodeName = need('NODE_NAME');
const nodeAddress = need('NODE_ADDRESS');
const bootstrapDir = need('BOOTSTRAP_DIR');
const pods = words(env.PODS).map((spec) => {
  const [who, where] = spec.split('=');
  const [name, namespace = 'default'] = who.split('.');
  const [ip, ports] = where.split(':');
  return { name, namespace, ip, ports: ports.split(','), kind: 'workload' };
});
for (const spec of words(env.WAYPOINT_PODS)) {
  const [who, where] = spec.split('=');
  const [name, namespace = 'default'] = who.split('.');
  const [ip, gateway] = where.split('/');
  if (!gateway) throw new Error(`WAYPOINT_PODS entry ${spec}: name the Gateway as name.namespace=ip/gateway`);
  pods.push({ name, namespace, ip, ports: [], kind: 'waypoint', credentialDir: join(bootstrapDir, '..', '..', 'waypoints', namespace, gateway) });
}

const children = [];
function start(name, argv) {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit'] });
  child.once('exit', (code, signal) => log(`${name} exited`, { code, signal }));
  children.push(child);
  return child;
}

run('ip', 'netns', 'attach', NODE_NETNS, '1');
for (const route of words(env.ROUTES)) {
  const [cidr, via] = route.split('=');
  run('ip', 'route', 'replace', cidr, 'via', via);
}
const hosts = `127.0.0.1\tlocalhost\n${words(env.HOSTS).map((h) => h.split('=').reverse().join('\t')).join('\n')}\n`;
for (const [i, pod] of pods.entries()) {
  const netns = `p-${pod.namespace}-${pod.name}`;
  const veth = `v${i}`;
  run('ip', 'netns', 'add', netns);
  run('ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
  run('ip', 'addr', 'add', `${POD_GATEWAY}/32`, 'dev', veth);
  run('ip', 'link', 'set', veth, 'up');
  run('ip', 'route', 'add', `${pod.ip}/32`, 'dev', veth, 'scope', 'link', 'src', nodeAddress);
  inNs(netns, 'ip', 'link', 'set', 'lo', 'up');
  inNs(netns, 'ip', 'addr', 'add', `${pod.ip}/32`, 'dev', 'eth0');
  inNs(netns, 'ip', 'link', 'set', 'eth0', 'up');
  inNs(netns, 'ip', 'route', 'add', POD_GATEWAY, 'dev', 'eth0', 'scope', 'link');
  inNs(netns, 'ip', 'route', 'add', 'default', 'via', POD_GATEWAY, 'dev', 'eth0');
  mkdirSync(`/etc/netns/${netns}`, { recursive: true });
  writeFileSync(`/etc/netns/${netns}/hosts`, `${hosts}${pod.ip}\t${pod.name}\n`);
  if (pod.kind === 'waypoint') {
    if (env.UNDERLAY_CIDR) run('iptables-nft', '-t', 'nat', '-A', 'POSTROUTING', '-s', `${pod.ip}/32`, '-d', env.UNDERLAY_CIDR, '-j', 'MASQUERADE');
    start(`waypoint ${pod.name}`, ['ip', 'netns', 'exec', netns, 'node', '/waypoint/dist/main.js', '--node-name', nodeName, '--pod-name', pod.name, '--namespace', pod.namespace, '--pod-ip', pod.ip, '--xds-address', need('XDS_ADDRESS'), '--bootstrap-dir', pod.credentialDir, '--listen-address', pod.ip]);
  } else {
    start(`pod ${pod.name}`, ['ip', 'netns', 'exec', netns, 'node', '/sample-workload/dist/main.js', '--name', pod.name, '--namespace', pod.namespace, '--node', nodeName, ...pod.ports.flatMap((p) => ['--listen', `${pod.ip}:${p}`])]);
  }
}
log('pods wired', { node: nodeName, pods: pods.map((p) => `${p.namespace}/${p.name} ${p.ip}`) });

// istiod-lite writes this node's bootstrap credential into its state dir on first start.
const deadline = Date.now() + BOOTSTRAP_WAIT_MS;
while (!existsSync(`${bootstrapDir}/key.pem`)) {
  if (Date.now() > deadline) throw new Error(`no bootstrap credential in ${bootstrapDir} after ${BOOTSTRAP_WAIT_MS} ms (is istiod-lite's state volume mounted?)`);
  await new Promise((resolve) => setTimeout(resolve, 100));
}
const ztunnel = start('ztunnel', ['node', '/app/dist/main.js', '--node-name', nodeName, '--xds-address', need('XDS_ADDRESS'), '--bootstrap-dir', bootstrapDir, '--capture-mode', 'transparent', '--capture-netns', NODE_NETNS, '--listen-address', nodeAddress]);

const stop = () => {
  for (const child of children) child.kill('SIGTERM');
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
ztunnel.once('exit', (code) => {
  stop();
  process.exitCode = code ?? 1;
  setTimeout(() => process.exit(process.exitCode), 500).unref();
});
