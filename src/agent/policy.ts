/**
 * Which peer records the agent acts on. Anyone who can write to etcd can
 * write a record, so a record is a claim, checked by the one record
 * validator ({@link checkNodeRecord}) and then against the network's
 * settings and the records accepted before it: only a record that cannot
 * hijack routing (an outside or oversized subnet, someone else's subnet, an
 * underlay that is loopback, multicast or this node) reaches the backend.
 * Every refusal carries its reason, for the log and `rtnl-agent status`.
 * @module
 */
import { contains, formatIp, parseCidr, parseIp } from '../primitives/ip.js';
import { checkNodeRecord } from './record.js';
import type { Candidate, NetworkConfig, NodeRecord, RejectedRecord } from './types.js';

/** What {@link admitPeers} decided. */
export interface Admission {
  /** The records to program (canonical), in the order given. */
  peers: Candidate[];
  rejected: RejectedRecord[];
}

/**
 * Decides which of `candidates` (in precedence order: on a conflict the
 * earlier one wins; etcd records come by creation revision) are peers of
 * `self`. A peer's record passes {@link checkNodeRecord} (with a VTEP MAC
 * when `needsVtepMac`, as the VXLAN backend's do); its subnet lies inside the
 * network, has its subnet length, is not the reserved first subnet, and
 * overlaps neither this node's nor an earlier peer's; its underlay is of this
 * node's family, not this node's and not an earlier peer's; its VTEP MAC (if
 * any) is not an earlier peer's. This node's own record is neither.
 */
export function admitPeers(candidates: readonly Candidate[], network: NetworkConfig, self: NodeRecord, needsVtepMac = true): Admission {
  const net = parseCidr(network.network)!.cidr;
  const selfUnderlay = parseIp(self.underlay)!;
  const subnets = new Map<string, string>([[self.subnet, 'this node']]);
  const underlays = new Map<string, string>([[formatIp(selfUnderlay), 'this node']]);
  const macs = new Map<string, string>(self.vtepMac === undefined ? [] : [[self.vtepMac.toLowerCase(), 'this node']]);
  const peers: Candidate[] = [];
  const rejected: RejectedRecord[] = [];
  for (const c of candidates) {
    const r = c.record;
    if (r.name === self.name && r.subnet === self.subnet && r.underlay === self.underlay && r.vtepMac === self.vtepMac) continue;
    let rec: NodeRecord;
    try {
      rec = checkNodeRecord(r, '', needsVtepMac);
    } catch (e) {
      rejected.push({ key: c.key, name: r.name, reason: (e as Error).message });
      continue;
    }
    const reason = problem(rec);
    if (reason) {
      rejected.push({ key: c.key, name: r.name, reason });
      continue;
    }
    subnets.set(rec.subnet, c.key);
    underlays.set(rec.underlay, c.key);
    if (rec.vtepMac !== undefined) macs.set(rec.vtepMac, c.key);
    peers.push({ key: c.key, record: rec });
  }
  return { peers, rejected };

  /** What is wrong with a well-formed record next to the network, this node and the peers before it. */
  function problem(r: NodeRecord): string | undefined {
    if (r.name === self.name) return `names this node (${self.name}) but is not its record`;
    const sub = parseCidr(r.subnet)!.cidr;
    if (sub.prefix < net.prefix || !contains(net, sub.net)) return `subnet ${r.subnet} is not inside the cluster network ${network.network}`;
    if (sub.prefix !== network.subnetLen) return `subnet ${r.subnet} is a /${sub.prefix}, not a /${network.subnetLen} (the network's subnet length)`;
    if (sub.net.value === net.net.value) return `subnet ${r.subnet} is the network's first subnet, which is reserved`;
    // Inside the network and of one length: two subnets overlap exactly when they are equal.
    const holder = subnets.get(r.subnet);
    if (holder) return `subnet ${r.subnet} overlaps ${holder === 'this node' ? "this node's" : `the earlier record ${holder}`}`;
    const family = r.underlay.includes(':') ? 6 : 4;
    if (family !== selfUnderlay.family) return `underlay ${r.underlay} is IPv${family}, but this node's underlay is IPv${selfUnderlay.family}`;
    const ulHolder = underlays.get(r.underlay);
    if (ulHolder) return `underlay ${r.underlay} is ${ulHolder === 'this node' ? "this node's own address" : `already the earlier record ${ulHolder}'s`}`;
    const macHolder = r.vtepMac === undefined ? undefined : macs.get(r.vtepMac);
    if (macHolder) return `VTEP MAC ${r.vtepMac!} is ${macHolder === 'this node' ? "this node's" : `already the earlier record ${macHolder}'s`}`;
    return undefined;
  }
}
