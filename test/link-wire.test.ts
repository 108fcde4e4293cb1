// Wire format, byte for byte: rtnl's RTM_NEWLINK for each spec or update is
// compared with what iproute2 sent for the same command (test/fixtures/*.hex, captured
// by test/fixtures/capture.sh). This also covers the kinds this kernel lacks
// (ipvlan, vlan, dummy), whose requests cannot be checked by reading back.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import type { LinkSpec } from '../src/index.js';
import { assertHome, kernelHasKind, testNs } from './lib.js';
import { FIXTURES, type Fixture, fixture, sameRequest } from './wire.js';

function sameBytes(t: Test, name: string, spec: (f: Fixture) => LinkSpec): void {
  sameRequest(t, name, (b, f) => b.linkAdd(spec(f)));
}

/**
 * iproute2's `type bridge_slave` as rtnl sends it (see fixtures/README.md):
 * IFLA_INFO_KIND "bridge_slave", the first attribute of IFLA_LINKINFO,
 * becomes IFLA_INFO_SLAVE_KIND "bridge", 4 bytes shorter.
 */
function asSlaveKind(b: Buffer): Buffer {
  const attr = (type: number, s: string) => {
    const a = Buffer.alloc(4 + Math.ceil(s.length / 4) * 4);
    a.writeUInt16LE(4 + s.length, 0);
    a.writeUInt16LE(type, 2);
    a.write(s, 4);
    return a;
  };
  const kind = attr(1, 'bridge_slave'); // IFLA_INFO_KIND
  const at = b.indexOf(kind);
  const nest = at - 4;
  if (at < 0 || b.readUInt16LE(nest + 2) !== 18) throw new Error('no IFLA_LINKINFO { IFLA_INFO_KIND "bridge_slave" } in the fixture');
  const slaveKind = attr(4, 'bridge'); // IFLA_INFO_SLAVE_KIND
  const out = Buffer.concat([b.subarray(0, at), slaveKind, b.subarray(at + kind.length)]);
  out.writeUInt32LE(out.length, 0);
  out.writeUInt16LE(b.readUInt16LE(nest) - (kind.length - slaveKind.length), nest);
  return out;
}

const ETH0 = 10; // eth0's ifindex in capture.sh's namespace
const ETH1 = 11; // its peer, a port of brm for the link-set fixtures
const BRM = 20; // and its bridge's

t.test('the fixtures are what capture.sh says they are', (t) => {
  const readme = fs.readFileSync(path.join(FIXTURES, 'README.md'), 'utf8');
  const names = fs.readdirSync(FIXTURES).filter((n) => n.endsWith('.hex'));
  t.ok(names.length >= 13, 'all fixtures present');
  for (const n of names) {
    const f = fixture(n.replace(/\.hex$/, ''));
    t.ok(readme.includes(`\`${n}\`: \`${f.command}\``), `${n} is listed in README with its command`);
    t.equal(f.bytes.readUInt32LE(0), f.bytes.length, `${n}: nlmsg_len matches the captured length`);
  }
  t.end();
});

t.test('ipvlan: l2, l3 + private, l3s + vepa', (t) => {
  sameBytes(t, 'ipvlan-l2', () => ({ kind: 'ipvlan', name: 'ipv0', link: ETH0, mode: 'l2', flag: 'bridge' }));
  sameBytes(t, 'ipvlan-l3-private', () => ({ kind: 'ipvlan', name: 'ipv0', link: ETH0, mode: 'l3', flag: 'private' }));
  sameBytes(t, 'ipvlan-l3s-vepa', () => ({ kind: 'ipvlan', name: 'ipv0', link: ETH0, mode: 'l3s', flag: 'vepa' }));
  t.end();
});

t.test('vlan: 802.1Q (default protocol) and 802.1ad', (t) => {
  sameBytes(t, 'vlan-8021q', () => ({ kind: 'vlan', name: 'vlan5', link: ETH0, id: 5 }));
  sameBytes(t, 'vlan-8021ad', () => ({ kind: 'vlan', name: 'vlan0', link: ETH0, id: 100, protocol: '802.1ad' }));
  t.end();
});

t.test('dummy, bare and with the common attributes', (t) => {
  sameBytes(t, 'dummy', () => ({ kind: 'dummy', name: 'dummy0' }));
  sameBytes(t, 'dummy-common', () => ({ kind: 'dummy', name: 'dummy1', mtu: 9000, address: '02:00:00:00:00:09', txqlen: 50, up: true }));
  t.end();
});

t.test('veth with its peer created in another namespace', (t) => {
  sameBytes(t, 'veth-peer-netns', (f) => {
    t.type(f.netnsFd, 'number', 'the fixture records the namespace fd iproute2 sent');
    return { kind: 'veth', name: 'v0', mtu: 1400, peer: { name: 'v1', mtu: 1300, address: '02:00:00:00:00:02', netns: { fd: f.netnsFd! } } };
  });
  t.end();
});

t.test('vxlan, unicast IPv4 with every option, and an IPv6 group', (t) => {
  sameBytes(t, 'vxlan', () => ({
    kind: 'vxlan', name: 'vx0', device: ETH0, ttl: 64, tos: 0x10, ageing: 300, limit: 100, l2miss: true, l3miss: true,
    udpCsum: true, portRange: { low: 1000, high: 2000 }, vni: 42, local: '10.0.0.1', remote: '10.0.0.2', learning: false, port: 4789,
  }));
  sameBytes(t, 'vxlan-group6', () => ({ kind: 'vxlan', name: 'vx1', device: ETH0, vni: 7, group: 'ff05::100', learning: true }));
  t.end();
});

t.test('macvlan', (t) => {
  sameBytes(t, 'macvlan-bridge', () => ({ kind: 'macvlan', name: 'mv0', link: ETH0, mode: 'bridge' }));
  t.end();
});

t.test('bridge options, a bridge created promiscuous, and a veth created up and enslaved', (t) => {
  sameBytes(t, 'bridge', () => ({
    kind: 'bridge', name: 'br0', forwardDelay: 400, helloTime: 300, maxAge: 2500, ageingTime: 10000, stp: true, priority: 100,
    groupFwdMask: 8, multicastSnooping: false, multicastQuerier: true,
  }));
  sameBytes(t, 'bridge-promisc', () => ({ kind: 'bridge', name: 'br1', promisc: true }));
  sameBytes(t, 'veth-master-up', () => ({ kind: 'veth', name: 've0', mtu: 1400, address: '02:00:00:00:01:01', txqlen: 500, master: BRM, up: true, peer: { name: 've1', txqlen: 600 } }));
  t.end();
});

t.test('link set: promisc, bridge port settings, both with an alias', (t) => {
  sameRequest(t, 'link-set-promisc', (b) => b.linkSet(ETH1, { promisc: true }));
  sameRequest(t, 'bridge-port', (b) => b.linkSet(ETH1, {
    bridgePort: {
      state: 'disabled', priority: 9, cost: 7, guard: true, hairpin: true, fastLeave: true, rootBlock: true, learning: false, flood: false,
      proxyArp: true, proxyArpWifi: true, mcastFlood: false, bcastFlood: false, mcastToUnicast: true, neighSuppress: true, isolated: true,
    },
  }), asSlaveKind);
  sameRequest(t, 'bridge-port-promisc-alias', (b) => b.linkSet(ETH1, { promisc: false, alias: 'pod', bridgePort: { hairpin: true } }), asSlaveKind);
  t.end();
});

// The kernel has no driver for these: the request is refused as a whole.
for (const [kind, spec] of [
  ['ipvlan', (link: number): LinkSpec => ({ kind: 'ipvlan', name: 'ipv0', link, mode: 'l3', flag: 'private' })],
  ['vlan', (link: number): LinkSpec => ({ kind: 'vlan', name: 'vlan0', link, id: 100, protocol: '802.1ad' })],
  ['dummy', (): LinkSpec => ({ kind: 'dummy', name: 'dummy0' })],
] as const) {
  const skip = kernelHasKind(kind) ? `this kernel has ${kind}: its refusal cannot be tested` : false;
  t.test(`${kind} is refused with EOPNOTSUPP on this kernel`, { skip }, (t) => {
    const { h, ipJson } = testNs(t);
    h.linkAdd({ kind: 'veth', name: 'eth0', peer: { name: 'eth1' } });
    const parent = h.linkGet('eth0').index;
    const before = ipJson('link', 'show').map((l: { ifname: string }) => l.ifname).sort();
    t.throws(() => h.linkAdd(spec(parent)), { name: 'NetlinkError', code: 'EOPNOTSUPP', op: 'linkAdd', extack: /Unknown device type/ });
    t.same(ipJson('link', 'show').map((l: { ifname: string }) => l.ifname).sort(), before, 'nothing was created');
    t.same(h.linkList().map((l) => l.name).sort(), before, 'and rtnl agrees');
    assertHome(t);
    t.end();
  });
}

/**
 * iproute2's request without the attributes it sends for a tunnel kind
 * whether asked or not, each with a value the kernel also takes when the
 * attribute is absent (a zero key, TOS or fwmark, no encapsulation, path
 * MTU discovery on...): rtnl sends only what the spec sets. Each listed
 * attribute must be in IFLA_INFO_DATA with exactly that payload, so the
 * mapping cannot hide a difference; link-kinds2.test.ts creates the same
 * links both ways on a kernel that has them and compares what it reports.
 */
function withoutDefaults(drop: [name: string, type: number, hex: string][]): (b: Buffer) => Buffer {
  return (b) => {
    const attrs = (buf: Buffer, from: number, to: number) => {
      const out: { at: number; len: number; type: number }[] = [];
      for (let o = from; o + 4 <= to; ) {
        const len = buf.readUInt16LE(o);
        out.push({ at: o, len, type: buf.readUInt16LE(o + 2) & 0x3fff });
        o += (len + 3) & ~3;
      }
      return out;
    };
    const info = attrs(b, 32, b.length).find((a) => a.type === 18); // IFLA_LINKINFO
    const data = info && attrs(b, info.at + 4, info.at + info.len).find((a) => a.type === 2); // IFLA_INFO_DATA
    if (!info || !data) throw new Error('no IFLA_LINKINFO { IFLA_INFO_DATA } in the fixture');
    const keep: Buffer[] = [];
    const left = new Set(drop.map(([name]) => name));
    for (const a of attrs(b, data.at + 4, data.at + data.len)) {
      const d = drop.find(([, type, hex]) => type === a.type && b.subarray(a.at + 4, a.at + a.len).toString('hex') === hex);
      if (d) left.delete(d[0]);
      else keep.push(b.subarray(a.at, a.at + ((a.len + 3) & ~3)));
    }
    if (left.size) throw new Error(`not in the fixture with the default value: ${[...left].join(', ')}`);
    const body = Buffer.concat(keep);
    const removed = data.len - 4 - body.length;
    const out = Buffer.concat([b.subarray(0, data.at + 4), body, b.subarray(data.at + data.len)]);
    out.writeUInt32LE(out.length, 0);
    out.writeUInt16LE(info.len - removed, info.at);
    out.writeUInt16LE(data.len - removed, data.at);
    return out;
  };
}

// Attributes iproute2 always sends for GRE and IP-in-IP tunnels: no encapsulation (FOU/GUE).
const GRE_NO_ENCAP: [string, number, string][] = [['ENCAP_TYPE', 14, '0000'], ['ENCAP_FLAGS', 15, '0000'], ['ENCAP_SPORT', 16, '0000'], ['ENCAP_DPORT', 17, '0000']];
const GRE_NO_KEYS: [string, number, string][] = [['IKEY', 4, '00000000'], ['OKEY', 5, '00000000'], ['IFLAGS', 2, '0000'], ['OFLAGS', 3, '0000']];
const IPTUN_DEFAULTS: [string, number, string][] = [
  ['PMTUDISC', 10, '01'], ['TOS', 5, '00'], ['LINK', 1, '00000000'], ['FWMARK', 20, '00000000'],
  ['ENCAP_TYPE', 15, '0000'], ['ENCAP_FLAGS', 16, '0000'], ['ENCAP_SPORT', 17, '0000'], ['ENCAP_DPORT', 18, '0000'],
];

t.test('bond: a mode with miimon, and every setting rtnl has', (t) => {
  sameBytes(t, 'bond-8023ad', () => ({ kind: 'bond', name: 'bond0', mode: '802.3ad', miimon: 100 }));
  sameBytes(t, 'bond-all', () => ({
    kind: 'bond', name: 'bond1', mode: 'active-backup', activeSlave: ETH0, miimon: 100, updelay: 200, downdelay: 200, useCarrier: false,
    arpInterval: 0, primary: ETH0, xmitHashPolicy: 'layer3+4', resendIgmp: 2, numPeerNotif: 3, allSlavesActive: true, minLinks: 1,
    lpInterval: 2, packetsPerSlave: 4, adActorSysPrio: 10, adUserPortKey: 5, adActorSystem: '02:00:00:00:00:01', tlbDynamicLb: true,
    peerNotifyDelay: 200, adLacpActive: true,
  }));
  t.end();
});

t.test('vrf, wireguard and ifb', (t) => {
  sameBytes(t, 'vrf', () => ({ kind: 'vrf', name: 'vrf1', table: 10 }));
  sameBytes(t, 'wireguard', () => ({ kind: 'wireguard', name: 'wg0' }));
  sameBytes(t, 'ifb', () => ({ kind: 'ifb', name: 'ifb9' }));
  t.end();
});

t.test('geneve: IPv4 remote, IPv6 remote with every option, external', (t) => {
  const zeros: [string, number, string][] = [['LABEL', 11, '00000000'], ['TTL', 3, '00'], ['TOS', 4, '00']];
  sameRequest(t, 'geneve', (b) => b.linkAdd({ kind: 'geneve', name: 'gnv0', vni: 5, remote: '10.0.0.2' }), withoutDefaults(zeros));
  sameBytes(t, 'geneve-all', () => ({
    kind: 'geneve', name: 'gnv1', df: 'set', vni: 5, remote: 'fd00::1', label: 9, ttl: 5, tos: 3, port: 6081,
    udpCsum: false, udp6ZeroCsumTx: true, udp6ZeroCsumRx: true,
  }));
  sameRequest(t, 'geneve-external', (b) => b.linkAdd({ kind: 'geneve', name: 'gnv2', ttlInherit: true, external: true }),
    withoutDefaults([['ID', 1, '00000000'], ...zeros]));
  t.end();
});

t.test('gre and gretap: a key, keys with checksum and sequence flags, plain, external', (t) => {
  const defaults: [string, number, string][] = [['PMTUDISC', 10, '01'], ['TOS', 9, '00'], ['FWMARK', 20, '00000000'], ...GRE_NO_ENCAP];
  sameRequest(t, 'gre-key', (b) => b.linkAdd({ kind: 'gre', name: 'gre1', ikey: 42, okey: 42, local: '10.0.0.1', remote: '10.0.0.2', ttl: 64 }),
    withoutDefaults(defaults));
  sameRequest(t, 'gre-all', (b) => b.linkAdd({
    kind: 'gre', name: 'gre2', ikey: 1, okey: 2, icsum: true, oseq: true, local: '10.0.0.1', remote: '10.0.0.2', pmtudisc: false, tos: 0x10,
    device: ETH0, fwmark: 7,
  }), withoutDefaults([['TTL', 8, '00'], ...GRE_NO_ENCAP]));
  sameRequest(t, 'gretap', (b) => b.linkAdd({ kind: 'gretap', name: 'gt1', local: '10.0.0.1', remote: '10.0.0.2' }),
    withoutDefaults([...GRE_NO_KEYS, ['TTL', 8, '00'], ...defaults]));
  sameBytes(t, 'gretap-external', () => ({ kind: 'gretap', name: 'gt2', external: true }));
  t.end();
});

t.test('ip6gre and ip6gretap', (t) => {
  const defaults: [string, number, string][] = [
    ...GRE_NO_KEYS, ['FLOWINFO', 12, '00000000'], ['FLAGS', 13, '00000000'], ['FWMARK', 20, '00000000'], ['ERSPAN_VER', 22, '01'],
    ...GRE_NO_ENCAP.map(([n, type, hex]): [string, number, string] => [n, type, n === 'ENCAP_FLAGS' ? '0200' : hex]), // TUNNEL_ENCAP_FLAG_CSUM6
  ];
  sameRequest(t, 'ip6gre', (b) => b.linkAdd({ kind: 'ip6gre', name: 'g61', local: 'fd00::1', remote: 'fd00::2', device: ETH0, ttl: 10, encapLimit: 5 }),
    withoutDefaults(defaults));
  // iproute2's hop limit 64 and encapsulation limit 4 are not the kernel's defaults (0 and 0): given explicitly.
  sameRequest(t, 'ip6gretap', (b) => b.linkAdd({ kind: 'ip6gretap', name: 'g62', local: 'fd00::1', remote: 'fd00::2', ttl: 64, encapLimit: 4 }),
    withoutDefaults(defaults));
  t.end();
});

t.test('ipip and sit', (t) => {
  sameRequest(t, 'ipip', (b) => b.linkAdd({ kind: 'ipip', name: 'ipip1', mode: 'any', local: '10.0.0.1', remote: '10.0.0.2' }),
    withoutDefaults([...IPTUN_DEFAULTS, ['TTL', 4, '00']]));
  sameRequest(t, 'ipip-all', (b) => b.linkAdd({ kind: 'ipip', name: 'ipip2', mode: 'any', remote: '10.0.0.2', tos: 0x10, ttl: 10, device: ETH0, fwmark: 7 }),
    withoutDefaults(IPTUN_DEFAULTS.filter(([n]) => n === 'PMTUDISC' || n.startsWith('ENCAP'))));
  sameRequest(t, 'sit', (b) => b.linkAdd({ kind: 'sit', name: 'sit1', mode: 'ip6ip', local: '10.0.0.1', remote: '10.0.0.2', ttl: 64 }),
    withoutDefaults([...IPTUN_DEFAULTS, ['FLAGS', 8, '0000']]));
  t.end();
});
