import { isIPv4 } from 'node:net';
import { MeshError } from '@mesh/errors';

/**
 * A node's traffic-capture plan as plain data: what `iptables`, `ipset` and `ip rule/route`
 * must hold in the node's network namespace so that TCP from and to captured pods reaches
 * ztunnel's transparent listeners. Pure: `planNodeCapture` does no I/O; renderers turn a plan
 * into text, the executor applies it.
 *
 * The model follows the node and ztunnel rules of Istio ambient's first design (docs/model.md,
 * "Capture on a node") folded into one namespace, because here ztunnel runs in the node namespace instead of a pod of its own:
 *
 *   pod netns ──veth──► node netns  mangle PREROUTING → ztunnel-PREROUTING
 *      1. non-SYN TCP of a connection ztunnel already accepted (`-m socket --transparent`)
 *         → mark 0x4d3/0xfff and stop: policy routing keeps delivering it locally
 *      2. non-SYN TCP of any other local socket (replies to ztunnel's own upstream
 *         connections, which leave through OUTPUT) → stop: never TPROXY a reply. TPROXY would
 *         find ztunnel's non-transparent socket and DROP the packet.
 *      3. TCP from a captured pod (ipset src)            → TPROXY 15001 (outbound)
 *      4. TCP to a captured pod, port 15008 (ipset dst)  → TPROXY 15008 (HBONE inbound)
 *      5. other TCP to a captured pod (ipset dst)        → TPROXY 15006 (plaintext inbound)
 *   node-local process → captured local pod :15008   mangle OUTPUT → ztunnel-OUTPUT
 *      6. mark 0x400/0xfff: rerouted to `lo` by table 100, it re-enters PREROUTING and rule 4
 *         hands it to ztunnel's own 15008 listener; so same-node traffic takes the same HBONE
 *         path as cross-node traffic (a pod has nothing listening on 15008).
 *      7. captured local pod :15008 → captured local pod (the replies of such a same-node
 *         tunnel: ztunnel opens it from the source pod's address, IP_TRANSPARENT, so its
 *         replies are addressed to a pod) → mark 0x4d3/0xfff: rerouted to `lo`, delivered to
 *         ztunnel's own client socket instead of the pod's veth.
 *   Cross-node tunnels from a pod's address need nothing more: their replies arrive from the
 *   underlay and rule 1 finds ztunnel's transparent client socket.
 *   ip rule fwmark 0x400/0xfff lookup 100, ip rule fwmark 0x4d3/0xfff lookup 100,
 *   table 100: local default dev lo → marked packets are delivered to local sockets even
 *   though their destination (a Service VIP, a remote pod) is not a local address.
 *
 * SYNs skip rules 1–2 on purpose: a SYN that reuses the 4-tuple of a TIME_WAIT socket must
 * reach the TPROXY target, which knows how to recycle TIME_WAIT; the socket match does not.
 *
 * DNS (with `dns` in the input, ztunnel's DNS proxy): pods' queries to any resolver on port 53
 * go to ztunnel's DNS port instead, as Istio's DNS capture does. TPROXY cannot carry them: the
 * answer of a UDP socket would leave from ztunnel's address, not the resolver's the pod asked.
 * So they are DNATed (nat PREROUTING → ztunnel-PREROUTING) to the node address ztunnel's DNS
 * proxy binds, and conntrack rewrites the answers' source back to the original resolver. TCP to
 * port 53 from a pod is exempted from rule 3 first (mangle runs before nat).
 *
 *   nat PREROUTING → ztunnel-PREROUTING
 *      8. UDP from a captured pod to port 53 → DNAT <dns address>:<dns port>
 *      9. TCP from a captured pod to port 53 → DNAT <dns address>:<dns port>
 *
 * TPROXY uses `--on-ip 127.0.0.1`: the kernel looks for the transparent listener at
 * 127.0.0.1:<port>, so ztunnel binds its capture listeners to loopback only and nothing on the
 * network can connect to 15001/15006/15008 except through the capture rules. The accepted
 * socket's local address is still the original destination (TPROXY does not rewrite packets).
 */

export interface CapturePorts {
  /** Outbound capture: TCP from captured pods. */
  readonly outbound: number;
  /** HBONE inbound: TCP to captured local pods on the HBONE port. */
  readonly inbound: number;
  /** Plaintext inbound: any other TCP to captured local pods. */
  readonly inboundPlaintext: number;
}

/** Where pods' DNS goes: ztunnel's DNS proxy (Istio: 15053) on a node address. */
export interface DnsCapture {
  readonly address: string;
  readonly port: number;
}

/** Istio's DNS capture port. */
export const DEFAULT_DNS_CAPTURE_PORT = 15053;
const DNS_PORT = '53';

export interface CaptureMarks {
  /** Set by TPROXY on the first packet of a captured connection (Istio's 0x400/0xfff). */
  readonly tproxy: number;
  /** Set on later packets of a connection ztunnel accepted (Istio's 0x4d3/0xfff rule). */
  readonly acceptedConnection: number;
  /** The bits of the fwmark this plan owns. */
  readonly mask: number;
}

export const DEFAULT_CAPTURE_PORTS: CapturePorts = Object.freeze({
  outbound: 15001,
  inbound: 15008,
  inboundPlaintext: 15006,
});

export const DEFAULT_CAPTURE_MARKS: CaptureMarks = Object.freeze({
  tproxy: 0x400,
  acceptedConnection: 0x4d3,
  mask: 0xfff,
});

export const DEFAULT_ROUTE_TABLE = 100;
export const DEFAULT_IPSET_NAME = 'ztunnel-pods-ips';
/** TPROXY listener lookup address; see the module comment for why loopback. */
export const TPROXY_LISTEN_ADDRESS = '127.0.0.1';
/** `ip rule` priorities, as in Istio's ztunnel pod (20000 +). */
export const DEFAULT_RULE_PRIORITY = 20000;

export interface NodeCaptureInput {
  /** IPv4 addresses of this node's pods whose traffic ztunnel captures (the ipset members). */
  readonly capturedPodIps: readonly string[];
  /** All IPv4 addresses of pods on this node; when given, every captured pod must be one. */
  readonly localPodIps?: readonly string[];
  readonly ports?: Partial<CapturePorts>;
  readonly marks?: Partial<CaptureMarks>;
  readonly routeTable?: number;
  readonly ipsetName?: string;
  /** Prefix of the chains this plan owns (`<prefix>-PREROUTING`, `<prefix>-OUTPUT`). */
  readonly chainPrefix?: string;
  readonly rulePriority?: number;
  /** Capture pods' DNS (UDP and TCP port 53) to ztunnel's DNS proxy; none when absent. */
  readonly dns?: DnsCapture;
}

/** One `-A <chain> …` rule: `args` exactly as `iptables-save` prints them after the chain. */
export interface IptablesRule {
  readonly args: readonly string[];
  /** What the rule does, for the annotated dump. */
  readonly comment: string;
}

export interface IptablesChain {
  readonly name: string;
  readonly comment: string;
  readonly rules: readonly IptablesRule[];
}

/** A jump from a built-in chain into one of ours, inserted first in the built-in chain. */
export interface IptablesHook {
  readonly from: string;
  readonly to: string;
  readonly comment: string;
}

export interface IptablesTable {
  readonly name: 'mangle' | 'nat';
  readonly chains: readonly IptablesChain[];
  readonly hooks: readonly IptablesHook[];
}

export interface IpsetPlan {
  readonly name: string;
  readonly type: 'hash:ip';
  readonly family: 'inet';
  /** Sorted, deduplicated. */
  readonly members: readonly string[];
  readonly comment: string;
}

export interface IpRulePlan {
  readonly priority: number;
  readonly fwmark: number;
  readonly mask: number;
  readonly table: number;
  readonly comment: string;
}

export interface RoutePlan {
  readonly table: number;
  readonly type: 'local';
  readonly destination: 'default';
  readonly dev: string;
  readonly comment: string;
}

export interface CapturePlan {
  readonly ports: CapturePorts;
  readonly dns?: DnsCapture;
  readonly marks: CaptureMarks;
  readonly ipsets: readonly IpsetPlan[];
  readonly tables: readonly IptablesTable[];
  readonly ipRules: readonly IpRulePlan[];
  readonly routes: readonly RoutePlan[];
}

/** `0x400/0xfff`, the form iptables-save and `ip rule` print. */
export function formatMark(value: number, mask: number): string {
  return `0x${value.toString(16)}/0x${mask.toString(16)}`;
}

function requirePort(name: string, port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new MeshError('NETFILTER_ERR_BAD_PLAN', `capture port ${name}=${port} is not a TCP port`, {
      context: { [name]: port },
    });
  }
  return port;
}

function requireMarks(marks: CaptureMarks): CaptureMarks {
  for (const [name, value] of Object.entries(marks)) {
    if (!Number.isInteger(value) || value <= 0 || value > 0xffffffff) {
      throw new MeshError('NETFILTER_ERR_BAD_PLAN', `mark ${name}=${value} is not a 32-bit fwmark`, {
        context: { [name]: value },
      });
    }
  }
  for (const name of ['tproxy', 'acceptedConnection'] as const) {
    if ((marks[name] & ~marks.mask) !== 0) {
      throw new MeshError('NETFILTER_ERR_BAD_PLAN', `mark ${name} has bits outside mask ${formatMark(0, marks.mask)}`, {
        context: { [name]: marks[name], mask: marks.mask },
      });
    }
  }
  if (marks.tproxy === marks.acceptedConnection) {
    throw new MeshError('NETFILTER_ERR_BAD_PLAN', 'tproxy and acceptedConnection marks must differ', {
      context: { mark: marks.tproxy },
      hint: 'the two marks tell new captured connections from packets of accepted ones in counters',
    });
  }
  return marks;
}

function sortedIps(ips: readonly string[]): string[] {
  const ipKey = (ip: string): number => ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  return [...new Set(ips)].sort((a, b) => ipKey(a) - ipKey(b));
}

/** The pure planner. Throws NETFILTER_ERR_BAD_PLAN on input no kernel would accept. */
export function planNodeCapture(input: NodeCaptureInput): CapturePlan {
  const ports: CapturePorts = {
    outbound: requirePort('outbound', input.ports?.outbound ?? DEFAULT_CAPTURE_PORTS.outbound),
    inbound: requirePort('inbound', input.ports?.inbound ?? DEFAULT_CAPTURE_PORTS.inbound),
    inboundPlaintext: requirePort('inboundPlaintext', input.ports?.inboundPlaintext ?? DEFAULT_CAPTURE_PORTS.inboundPlaintext),
  };
  const marks = requireMarks({ ...DEFAULT_CAPTURE_MARKS, ...input.marks });
  const table = input.routeTable ?? DEFAULT_ROUTE_TABLE;
  if (!Number.isInteger(table) || table < 1 || table > 252) {
    throw new MeshError('NETFILTER_ERR_BAD_PLAN', `route table ${table} is not a user table (1–252)`, {
      context: { table },
    });
  }
  const setName = input.ipsetName ?? DEFAULT_IPSET_NAME;
  if (!/^[A-Za-z0-9_.-]{1,27}$/.test(setName)) {
    throw new MeshError('NETFILTER_ERR_BAD_PLAN', `ipset name "${setName}" must be 1–27 of [A-Za-z0-9_.-]`, {
      context: { ipsetName: setName },
      hint: 'ipset allows 31 characters and the executor appends "-new" for its staging set',
    });
  }
  const chainPrefix = input.chainPrefix ?? 'ztunnel';
  const priority = input.rulePriority ?? DEFAULT_RULE_PRIORITY;

  const badIps = [...input.capturedPodIps, ...(input.localPodIps ?? [])].filter((ip) => !isIPv4(ip));
  if (badIps.length > 0) {
    throw new MeshError('NETFILTER_ERR_BAD_PLAN', `not IPv4 pod addresses: ${badIps.join(', ')}`, {
      context: { badIps },
      hint: 'the capture plan handles IPv4 only',
    });
  }
  if (input.localPodIps) {
    const local = new Set(input.localPodIps);
    const remote = input.capturedPodIps.filter((ip) => !local.has(ip));
    if (remote.length > 0) {
      throw new MeshError('NETFILTER_ERR_POD_NOT_LOCAL', `captured pods are not on this node: ${remote.join(', ')}`, {
        context: { remote },
        hint: 'a node captures only its own pods; the other node captures the rest',
      });
    }
  }

  const dns = input.dns;
  if (dns && (!isIPv4(dns.address) || !Number.isInteger(dns.port) || dns.port < 1 || dns.port > 65535)) {
    throw new MeshError('NETFILTER_ERR_BAD_PLAN', `DNS capture target ${dns.address}:${dns.port} is not an IPv4 address and port`, {
      context: { dns },
      hint: 'ztunnel\'s DNS proxy address on the node (its --listen-address) and port (15053)',
    });
  }

  const tproxyMark = formatMark(marks.tproxy, marks.mask);
  const acceptedMark = formatMark(marks.acceptedConnection, marks.mask);
  const tproxyTo = (port: number): string[] =>
    ['-j', 'TPROXY', '--on-port', String(port), '--on-ip', TPROXY_LISTEN_ADDRESS, '--tproxy-mark', tproxyMark];
  // iptables-save prints `! --syn` as its expansion; use that form so read-back compares equal.
  const notSyn = ['-m', 'tcp', '!', '--tcp-flags', 'FIN,SYN,RST,ACK', 'SYN'];
  const prerouting = `${chainPrefix}-PREROUTING`;
  const output = `${chainPrefix}-OUTPUT`;

  const preroutingRules: IptablesRule[] = [
    {
      args: ['-p', 'tcp', ...notSyn, '-m', 'socket', '--transparent', '-j', 'MARK', '--set-xmark', acceptedMark],
      comment: 'packet of a connection ztunnel accepted transparently: mark it so table 100 delivers it locally',
    },
    {
      args: ['-m', 'mark', '--mark', acceptedMark, '-j', 'RETURN'],
      comment: 'already marked as ztunnel\'s: no further capture',
    },
    {
      args: ['-p', 'tcp', ...notSyn, '-m', 'socket', '-j', 'RETURN'],
      comment: 'reply to a node-local socket (ztunnel\'s own upstream connection): never TPROXY a reply',
    },
    ...(dns
      ? [
          {
            args: ['!', '-i', 'lo', '-p', 'tcp', '-m', 'set', '--match-set', setName, 'src', '-m', 'tcp', '--dport', DNS_PORT, '-j', 'RETURN'],
            comment: `DNS over TCP from a captured pod: not to 15001, nat PREROUTING sends it to ztunnel's DNS proxy (${dns.port})`,
          },
        ]
      : []),
    {
      // Not from lo: a node-local process that spoofs a pod's source address is not a pod.
      args: ['!', '-i', 'lo', '-p', 'tcp', '-m', 'set', '--match-set', setName, 'src', ...tproxyTo(ports.outbound)],
      comment: `new TCP from a captured pod: to ztunnel outbound (${ports.outbound}); original destination = accepted socket's local address`,
    },
    {
      args: ['-p', 'tcp', '-m', 'set', '--match-set', setName, 'dst', '-m', 'tcp', '--dport', String(ports.inbound), ...tproxyTo(ports.inbound)],
      comment: `new TCP to a captured pod's HBONE port: to ztunnel HBONE inbound (${ports.inbound})`,
    },
    {
      args: ['-p', 'tcp', '-m', 'set', '--match-set', setName, 'dst', ...tproxyTo(ports.inboundPlaintext)],
      comment: `other new TCP to a captured pod: to ztunnel plaintext inbound (${ports.inboundPlaintext})`,
    },
  ];
  const outputRules: IptablesRule[] = [
    {
      args: ['-p', 'tcp', '-m', 'set', '--match-set', setName, 'dst', '-m', 'tcp', '--dport', String(ports.inbound), '-j', 'MARK', '--set-xmark', tproxyMark],
      comment: `node-local HBONE to a captured pod on this node: reroute via lo so PREROUTING hands it to ${ports.inbound}`,
    },
    {
      args: [
        '-p', 'tcp', '-m', 'set', '--match-set', setName, 'src', '-m', 'tcp', '--sport', String(ports.inbound),
        '-m', 'set', '--match-set', setName, 'dst', '-j', 'MARK', '--set-xmark', acceptedMark,
      ],
      comment: `reply of ztunnel's HBONE inbound (${ports.inbound}) to a captured pod on this node: ztunnel opened that tunnel itself, from the pod's address; reroute via lo to its own socket, not to the pod`,
    },
  ];

  const dnsTo = dns ? `${dns.address}:${dns.port}` : '';
  const natTables: IptablesTable[] = dns
    ? [
        {
          name: 'nat',
          chains: [
            {
              name: prerouting,
              comment: 'pods\' DNS to ztunnel\'s DNS proxy',
              rules: (['udp', 'tcp'] as const).map((proto) => ({
                args: ['!', '-i', 'lo', '-p', proto, '-m', 'set', '--match-set', setName, 'src', '-m', proto, '--dport', DNS_PORT, '-j', 'DNAT', '--to-destination', dnsTo],
                comment: `DNS over ${proto.toUpperCase()} from a captured pod, to any resolver: to ztunnel's DNS proxy; conntrack gives the answer the resolver's address back`,
              })),
            },
          ],
          hooks: [{ from: 'PREROUTING', to: prerouting, comment: 'new connections and flows from pods pass our chain first' }],
        },
      ]
    : [];

  return {
    ports,
    marks,
    ...(dns ? { dns: { address: dns.address, port: dns.port } } : {}),
    ipsets: [
      {
        name: setName,
        type: 'hash:ip',
        family: 'inet',
        members: sortedIps(input.capturedPodIps),
        comment: 'captured pods on this node',
      },
    ],
    tables: [
      {
        name: 'mangle',
        chains: [
          { name: prerouting, comment: 'capture decisions for packets arriving from pods and the underlay', rules: preroutingRules },
          { name: output, comment: 'same-node HBONE from ztunnel itself', rules: outputRules },
        ],
        hooks: [
          { from: 'PREROUTING', to: prerouting, comment: 'every arriving packet passes our chain first' },
          { from: 'OUTPUT', to: output, comment: 'every locally generated packet passes our chain first' },
        ],
      },
      ...natTables,
    ],
    ipRules: [
      { priority, fwmark: marks.tproxy, mask: marks.mask, table, comment: 'TPROXY-marked first packets use table 100' },
      {
        priority: priority + 1,
        fwmark: marks.acceptedConnection,
        mask: marks.mask,
        table,
        comment: 'later packets of accepted connections use table 100',
      },
    ],
    routes: [
      {
        table,
        type: 'local',
        destination: 'default',
        dev: 'lo',
        comment: 'any destination is local: deliver to the socket TPROXY assigned, whatever its address',
      },
    ],
  };
}
