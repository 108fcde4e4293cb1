// The bgp backend's pure parts: BIRD's configuration (checked by BIRD's own
// parser, `bird -p`, as the oracle), refusal of values that are not what
// they claim (never written into the file), the route report, and the
// --bgp-* flags.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { RtnlInputError } from '../src/errors.js';
import { UsageError } from '../src/cli.js';
import { type BirdConfigInput, birdConfig } from '../src/agent/bgp/config.js';
import { bgpSettings } from '../src/agent/bgp/flags.js';
import { evpnPathspace, evpnSettings } from '../src/agent/evpn/flags.js';
import { reportRoutes } from '../src/agent/bgp/routes.js';
import type { Route } from '../src/route.js';

const base: BirdConfigInput = {
  asn: 64512, local: '192.168.100.1', subnet: '10.244.1.0/24', holdTimeSec: 30, routeReflectors: [],
  members: [{ underlay: '192.168.100.2', subnet: '10.244.2.0/24' }, { underlay: '192.168.100.3', subnet: '10.244.3.0/24' }],
};

/** What fn throws (undefined if nothing). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** BIRD's parser on a configuration: exit 0 and no output when it is valid. */
function birdParses(text: string): { ok: boolean; out: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtnl-bird-conf-'));
  try {
    fs.writeFileSync(`${dir}/bird.conf`, text);
    const r = spawnSync('bird', ['-p', '-c', `${dir}/bird.conf`], { encoding: 'utf8' });
    return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

t.test('the configuration BIRD parses: full mesh, client of reflectors, reflector, no peers', async (t) => {
  const cases: Array<[string, Partial<BirdConfigInput>]> = [
    ['full mesh', {}],
    ['client of two reflectors', { routeReflectors: ['192.168.100.8', '192.168.100.9'] }],
    ['a reflector', { routeReflectors: ['192.168.100.1', '192.168.100.9'] }],
    ['no peers yet', { members: [] }],
    ['a 4-byte AS, the longest hold time', { asn: 4200000000, holdTimeSec: 65535 }],
  ];
  for (const [name, o] of cases) {
    const text = birdConfig({ ...base, ...o });
    const p = birdParses(text);
    t.ok(p.ok, `${name}: bird -p accepts it ${p.out}`);
  }
  const mesh = birdConfig(base);
  t.match(mesh, /^router id 192\.168\.100\.1;$/m);
  t.match(mesh, /^ {2}route 10\.244\.1\.0\/24 unreachable;$/m, 'the own subnet is announced');
  t.match(mesh, /^ {2}if net = 10\.244\.2\.0\/24 && bgp_next_hop = 192\.168\.100\.2 then accept;$/m, 'each member: its subnet via its underlay');
  t.equal(mesh.match(/^protocol bgp /gm)?.length, 2, 'a session per member');
  t.match(mesh, /hold time 30; keepalive time 10;/);
  const client = birdConfig({ ...base, routeReflectors: ['192.168.100.9'] });
  t.same(client.match(/^protocol bgp .*$/gm), ['protocol bgp peer_192_168_100_9 from rtnl_peer { neighbor 192.168.100.9 as 64512; }'], 'a client peers with the reflector only');
  t.match(client, /if net = 10\.244\.3\.0\/24 && bgp_next_hop = 192\.168\.100\.3 then accept;/, 'and accepts the members\' routes it reflects');
  const rr = birdConfig({ ...base, routeReflectors: ['192.168.100.1', '192.168.100.9'] });
  t.same(rr.match(/^protocol bgp .*$/gm), [
    'protocol bgp peer_192_168_100_9 from rtnl_peer { neighbor 192.168.100.9 as 64512; }',
    'protocol bgp peer_192_168_100_2 from rtnl_peer { neighbor 192.168.100.2 as 64512; rr client; rr cluster id 192.168.100.1; }',
    'protocol bgp peer_192_168_100_3 from rtnl_peer { neighbor 192.168.100.3 as 64512; rr client; rr cluster id 192.168.100.1; }',
  ], 'a reflector: the other reflector, and every member as its client');
  t.match(rr, /if source = RTS_BGP then accept;/, 'a reflector passes the clients\' routes on');
  t.notMatch(mesh, /RTS_BGP then accept/, 'a plain node announces only its own subnet');
});

t.test('values that would inject configuration text are refused, naming the field', async (t) => {
  const bad: Array<[string, Partial<BirdConfigInput>]> = [
    ['members[0].subnet', { members: [{ underlay: '192.168.100.2', subnet: '10.244.2.0/24; } protocol static { route 0.0.0.0/0 unreachable' }] }],
    ['members[0].underlay', { members: [{ underlay: '192.168.100.2 then accept; if true', subnet: '10.244.2.0/24' }] }],
    ['members[0].subnet', { members: [{ underlay: '192.168.100.2', subnet: '10.244.2.1/24' }] }],
    ['members[0].subnet', { members: [{ underlay: '192.168.100.2', subnet: 'fd00::/64' }] }],
    ['members[0].underlay', { members: [{ underlay: 'fd00::2', subnet: '10.244.2.0/24' }] }],
    ['routeReflectors[0]', { routeReflectors: ['192.168.100.9;'] }],
    ['local', { local: '192.168.100.1\nprotocol bgp x {' }],
    ['subnet', { subnet: '10.244.1.0/24 unreachable; route 0.0.0.0/0' }],
    ['asn', { asn: 0 }],
    ['asn', { asn: 2 ** 32 }],
    ['asn', { asn: 1.5 }],
    ['holdTimeSec', { holdTimeSec: 2 }],
    ['holdTimeSec', { holdTimeSec: '30; }' as unknown as number }],
  ];
  for (const [field, o] of bad) {
    const e = thrown(() => birdConfig({ ...base, ...o }));
    t.ok(e instanceof RtnlInputError && e.field === field, `${field}: ${JSON.stringify(Object.values(o)[0])} (${String(e)})`);
  }
});

t.test('the route report: learned, missing, stale, from the kernel\'s routes', async (t) => {
  const route = (dst: string, gateway: string, protocol: Route['protocol'] = 'bird'): Route => ({ family: 4, dst, gateway, table: 254, scope: 'universe', protocol, type: 'unicast', flags: [] });
  const rep = reportRoutes([
    route('10.244.2.0/24', '192.168.100.2'),
    route('10.244.3.0/24', '192.168.100.7'), // a member's subnet via someone else
    route('10.244.9.0/24', '192.168.100.9'), // no member's
    route('10.244.4.0/24', '192.168.100.4', 'static'), // not the speaker's
  ], [...base.members, { underlay: '192.168.100.4', subnet: '10.244.4.0/24' }]);
  t.same(rep, { learned: ['10.244.2.0/24'], missing: ['10.244.3.0/24', '10.244.4.0/24'], stale: ['10.244.3.0/24', '10.244.9.0/24'] });
});

t.test('--bgp-* flags', async (t) => {
  t.same(bgpSettings('bgp', {}, '/run/x'), { asn: 64512, holdTimeSec: 30, routeReflectors: [], dir: '/run/x/bgp' }, 'defaults');
  t.same(bgpSettings('bgp', { as: '65001', holdTime: '9', routeReflector: '10.0.0.1,10.0.0.2' }, '/s'), { asn: 65001, holdTimeSec: 9, routeReflectors: ['10.0.0.1', '10.0.0.2'], dir: '/s/bgp' });
  t.equal(bgpSettings('vxlan', {}, '/s'), undefined, 'another backend: none');
  for (const [backend, f, msg] of [
    ['vxlan', { as: '1' }, /--bgp-as applies to --backend bgp/],
    ['bgp', { as: '0' }, /--bgp-as/],
    ['bgp', { as: '1e3' }, /--bgp-as/],
    ['bgp', { holdTime: '2' }, /--bgp-hold-time/],
    ['bgp', { routeReflector: '10.0.0.1,10.0.0.x' }, /--bgp-route-reflector: expected an IPv4 address, got "10\.0\.0\.x"/],
  ] as const) {
    const e = thrown(() => bgpSettings(backend, f, '/s'));
    t.ok(e instanceof UsageError && msg.test(e.message), `${backend} ${JSON.stringify(f)}: ${String(e)}`);
  }
});

t.test('--evpn* flags: a VTEP or a reflector, the pathspace from the node name; nothing else reaches bgpd.conf', async (t) => {
  t.same(evpnSettings({ evpn: true, routeReflector: '10.0.0.9,10.0.0.8' }, 'node1'), { asn: 64512, holdTimeSec: 30, pathspace: 'rtnl-node1', routeReflectors: ['10.0.0.9', '10.0.0.8'] }, 'a VTEP, defaults');
  t.same(evpnSettings({ evpn: true, reflector: '10.0.0.0/24', as: '65010', holdTime: '9' }, 'rr'), { asn: 65010, holdTimeSec: 9, pathspace: 'rtnl-rr', listenRange: '10.0.0.0/24' }, 'a reflector');
  t.equal(evpnSettings({}, 'node1'), undefined, 'no --evpn: none');
  const long = evpnPathspace('worker-17.eu-west-1.compute.internal');
  t.match(long, /^rtnl-worker-17-eu-west--[0-9a-f]{8}$/, `a name FRR does not take: made safe, with a hash (${long})`);
  t.not(evpnPathspace('a.b'), evpnPathspace('a-b'), 'names that make the same safe text get different pathspaces');
  for (const [f, msg] of [
    [{ as: '1' }, /--evpn-as applies with --evpn/],
    [{ evpn: true }, /--evpn needs one of --evpn-route-reflector \(a VTEP\) and --evpn-reflector/],
    [{ evpn: true, routeReflector: '10.0.0.9', reflector: '10.0.0.0/24' }, /--evpn needs one of/],
    [{ evpn: true, routeReflector: ',' }, /--evpn-route-reflector: give at least one address/],
    [{ evpn: true, routeReflector: '10.0.0.9 remote-as 1' }, /--evpn-route-reflector: expected an IPv4 address/],
    [{ evpn: true, reflector: '10.0.0.1/24' }, /--evpn-reflector: expected an IPv4 prefix without host bits/],
    [{ evpn: true, reflector: '0.0.0.0/0 peer-group x' }, /--evpn-reflector/],
    [{ evpn: true, reflector: '10.0.0.0/24', holdTime: '2' }, /--evpn-hold-time/],
  ] as const) {
    const e = thrown(() => evpnSettings(f, 'node1'));
    t.ok(e instanceof UsageError && msg.test(e.message), `${JSON.stringify(f)}: ${String(e)}`);
  }
});
