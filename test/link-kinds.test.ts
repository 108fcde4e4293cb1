// The kinds this VM's kernel lacks (ipvlan, vlan, dummy), created for real
// wherever the kernel has them: read back through rtnl and through
// `ip -j -d link show`, which must agree. On a kernel without them each case
// is skipped with the reason; their wire format is proven byte for byte in
// link-wire.test.ts. To run them for real here, boot the 6.1 guest:
//   ../shared/tools/kvm-run.sh scripts/sandbox npx tap dist/test/link-kinds.test.js
import t from 'tap';
import type { LinkSpec } from '../src/index.js';
import { assertHome, kernelHasKind, testNs } from './lib.js';

const missing = (kind: string) => `the kernel has no ${kind} (EOPNOTSUPP "Unknown device type"); wire format checked in link-wire.test.ts`;

// spec (with the parent filled in) -> what iproute2's info_data must say
const cases: { kind: string; spec: (parent: number) => LinkSpec; ip: Record<string, unknown> }[] = [
  { kind: 'ipvlan', spec: (link) => ({ kind: 'ipvlan', name: 'ipv0', link, mode: 'l2' }), ip: { mode: 'l2', bridge: true } },
  { kind: 'ipvlan', spec: (link) => ({ kind: 'ipvlan', name: 'ipv1', link, mode: 'l3', flag: 'private' }), ip: { mode: 'l3', private: true } },
  { kind: 'ipvlan', spec: (link) => ({ kind: 'ipvlan', name: 'ipv2', link, mode: 'l3s', flag: 'vepa' }), ip: { mode: 'l3s', vepa: true } },
  { kind: 'vlan', spec: (link) => ({ kind: 'vlan', name: 'vl10', link, id: 10 }), ip: { protocol: '802.1Q', id: 10 } },
  { kind: 'vlan', spec: (link) => ({ kind: 'vlan', name: 'vl20', link, id: 20, protocol: '802.1ad' }), ip: { protocol: '802.1ad', id: 20 } },
  { kind: 'dummy', spec: () => ({ kind: 'dummy', name: 'dm0', mtu: 9000, address: '02:00:00:00:d0:01' }), ip: {} },
];

for (const c of cases) {
  const has = kernelHasKind(c.kind);
  t.test(`${c.kind}: ${JSON.stringify(c.ip)}`, { skip: has ? false : missing(c.kind) }, (t) => {
    const env = testNs(t, 'kind');
    env.h.linkAdd({ kind: 'veth', name: 'parent0', peer: { name: 'parent1' } });
    const parent = env.h.linkGet('parent0').index;
    const spec = c.spec(parent);
    env.h.linkAdd(spec);
    const ours = env.h.linkGet(spec.name);
    const ip = env.ipJson('-d', 'link', 'show', 'dev', spec.name)[0];
    t.equal(ours.kind, c.kind);
    t.equal(ip.linkinfo.info_kind, c.kind, 'iproute2 sees the same kind');
    t.equal(ours.index, ip.ifindex);
    t.equal(ours.mtu, ip.mtu);
    t.equal(ours.address, ip.address);
    if (c.kind !== 'dummy') t.equal(ours.link, parent, 'parent index');
    t.match(ip.linkinfo.info_data ?? {}, c.ip, 'iproute2 reads back what we asked for');
    if (ours.kind === 'ipvlan') {
      t.equal(ours.mode, ip.linkinfo.info_data.mode, 'mode agrees');
      t.equal(ours.flag, (['bridge', 'private', 'vepa'] as const).find((f) => ip.linkinfo.info_data[f]), 'flag agrees');
    }
    if (ours.kind === 'vlan') {
      t.equal(ours.id, ip.linkinfo.info_data.id, 'id agrees');
      t.equal(ours.protocol, ip.linkinfo.info_data.protocol, 'protocol agrees');
    }
    if (ours.kind === 'dummy') t.same([ours.mtu, ours.address], [9000, '02:00:00:00:d0:01']);
    env.h.linkDel(spec.name);
    t.throws(() => env.h.linkGet(spec.name), { code: 'ENODEV' }, 'deleted');
    assertHome(t);
    t.end();
  });
}
