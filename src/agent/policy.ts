/**
 * Which peer records the agent acts on. Anyone who can write to etcd can
 * write a record, so a record is a claim, checked against the network's
 * settings and the records accepted before it: only a record that cannot
 * hijack routing (an outside or oversized subnet, someone else's subnet, an
 * underlay that is loopback, multicast or this node) reaches the overlay.
 * Every refusal carries its reason, for the log and `rtnl-agent status`.
 * @module
 */
import { type Ip, contains, formatIp, isNetwork, parseCidr, parseIp } from '../primitives/ip.js';
import { isUnicastMac as isVtepMac } from '../primitives/names.js';
import type { Candidate, NetworkConfig, NodeRecord, RejectedRecord } from './types.js';

/** What {@link admitPeers} decided. */
export interface Admission {
  /** The records to program, in the order given. */
  peers: Candidate[];
  rejected: RejectedRecord[];
}

/** Why `ip` cannot be a VXLAN destination (loopback, unspecified, multicast, broadcast); undefined when it is a unicast address. */
export function underlayProblem(ip: Ip): string | undefined {
  const v = ip.value;
  if (ip.family === 4) {
    if (v >> 24n === 127n) return 'a loopback address';
    if (v >> 24n === 0n) return 'an unspecified ("this network") address';
    if (v >> 28n === 0xen) return 'a multicast address';
    if (v === 0xffffffffn) return 'the broadcast address';
    if (v >> 28n === 0xfn) return 'a reserved (240.0.0.0/4) address';
    return undefined;
  }
  if (v === 1n) return 'a loopback address';
  if (v === 0n) return 'the unspecified address';
  if (v >> 120n === 0xffn) return 'a multicast address';
  if (v >> 32n === 0xffffn) return 'an IPv4-mapped address';
  return undefined;
}

/**
 * Decides which of `candidates` (in precedence order: on a conflict the
 * earlier one wins; etcd records come by creation revision) are peers of
 * `self`. A peer's subnet lies inside the network, has its subnet length,
 * is not the reserved first subnet, and overlaps neither this node's nor an
 * earlier peer's; its underlay is a unicast address of this node's family,
 * not this node's and not an earlier peer's; its VTEP MAC is unicast and
 * not an earlier peer's. This node's own record is neither.
 */
export function admitPeers(candidates: readonly Candidate[], network: NetworkConfig, self: NodeRecord): Admission {
  const net = parseCidr(network.network)!.cidr;
  const selfUnderlay = parseIp(self.underlay)!;
  const subnets = new Map<string, string>([[self.subnet, 'this node']]);
  const underlays = new Map<string, string>([[formatIp(selfUnderlay), 'this node']]);
  const macs = new Map<string, string>([[self.vtepMac.toLowerCase(), 'this node']]);
  const peers: Candidate[] = [];
  const rejected: RejectedRecord[] = [];
  for (const c of candidates) {
    const r = c.record;
    if (r.name === self.name && r.subnet === self.subnet && r.underlay === self.underlay && r.vtepMac === self.vtepMac) continue;
    const reason = problem(r);
    if (reason) {
      rejected.push({ key: c.key, name: r.name, reason });
      continue;
    }
    subnets.set(r.subnet, c.key);
    underlays.set(formatIp(parseIp(r.underlay)!), c.key);
    macs.set(r.vtepMac.toLowerCase(), c.key);
    peers.push(c);
  }
  return { peers, rejected };

  function problem(r: NodeRecord): string | undefined {
    if (r.name === self.name) return `names this node (${self.name}) but is not its record`;
    const sub = parseCidr(r.subnet);
    if (!sub || !isNetwork(sub)) return `subnet ${r.subnet} is not a prefix without host bits`;
    if (sub.cidr.prefix < net.prefix || !contains(net, sub.cidr.net)) return `subnet ${r.subnet} is not inside the cluster network ${network.network}`;
    if (sub.cidr.prefix !== network.subnetLen) return `subnet ${r.subnet} is a /${sub.cidr.prefix}, not a /${network.subnetLen} (the network's subnet length)`;
    if (sub.cidr.net.value === net.net.value) return `subnet ${r.subnet} is the network's first subnet, which is reserved`;
    // Inside the network and of one length: two subnets overlap exactly when they are equal.
    const holder = subnets.get(r.subnet);
    if (holder) return `subnet ${r.subnet} overlaps ${holder === 'this node' ? "this node's" : `the earlier record ${holder}`}`;
    const ul = parseIp(r.underlay);
    if (!ul) return `underlay ${r.underlay} is not an IP address`;
    if (ul.family !== selfUnderlay.family) return `underlay ${r.underlay} is IPv${ul.family}, but this node's underlay is IPv${selfUnderlay.family}`;
    const bad = underlayProblem(ul);
    if (bad) return `underlay ${r.underlay} is ${bad}`;
    const ulHolder = underlays.get(formatIp(ul));
    if (ulHolder) return `underlay ${r.underlay} is ${ulHolder === 'this node' ? "this node's own address" : `already the earlier record ${ulHolder}'s`}`;
    const mac = r.vtepMac.toLowerCase();
    if (!isVtepMac(mac)) return `VTEP MAC ${r.vtepMac} is not a unicast MAC`;
    const macHolder = macs.get(mac);
    if (macHolder) return `VTEP MAC ${r.vtepMac} is ${macHolder === 'this node' ? "this node's" : `already the earlier record ${macHolder}'s`}`;
    return undefined;
  }
}
