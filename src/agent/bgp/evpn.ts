/**
 * BGP EVPN for the `rtnl` plugin's vxlan mode with `"evpn": true`: FRR
 * (Debian's `frr`: zebra + bgpd, EVPN in bgpd with `advertise-all-vni`) on
 * each node, one pair per node namespace, with route reflectors in between.
 * zebra finds the node's VNIs from its `vx<VNI>` devices (which the plugin
 * makes with the first pod of a VNI and deletes with the last) and the MACs
 * behind their bridges; bgpd advertises them (type-3: "this VTEP has this
 * VNI", type-2: "this MAC is behind this VTEP") and installs what the others
 * advertise as FDB entries on the matching `vx<VNI>` only. So no node is
 * given a peers list, and a node without a pod in a VNI has no device and
 * no FDB entry for it. A reflector needs no member list either: it accepts
 * any VTEP of the underlay subnet (`bgp listen range`).
 *
 * FRR and not BIRD: BIRD 2.0 does not speak EVPN. Spawning the daemons is
 * this module's design (rtnl itself runs no program); every value written
 * into their configuration is parsed and written back from its parsed form.
 * @module
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { type Netns, RtnlInputError } from '../../index.js';
import { writeFileAtomic } from '../../primitives/file.js';
import { intIn, ipv4, prefix4 } from './config.js';
import { daemonPid, launchDaemon, stopPid, waitReady } from './daemon.js';

/** One node's EVPN speaker: a VTEP (client of the reflectors) or a route reflector. */
export interface EvpnConfigInput {
  asn: number;
  /** The node's underlay address: router id, and the VTEP address of its `vx<VNI>` devices. */
  routerId: string;
  holdTimeSec: number;
  /** A VTEP: the reflectors it peers with. */
  routeReflectors?: readonly string[];
  /** A reflector: the underlay prefix its clients come from (dynamic neighbours: no member list). */
  listenRange?: string;
}

/**
 * bgpd's configuration for one node: iBGP in `asn`, only the l2vpn evpn
 * family. A VTEP peers with each reflector and advertises all its VNIs; a
 * reflector accepts sessions from `listenRange` and reflects between its
 * clients.
 */
export function frrEvpnConfig(i: EvpnConfigInput): string {
  const asn = intIn('asn', i.asn, 1, 0xffffffff);
  const hold = intIn('holdTimeSec', i.holdTimeSec, 3, 65535);
  const id = ipv4('routerId', i.routerId);
  if ((i.listenRange === undefined) === (i.routeReflectors === undefined)) throw new RtnlInputError('routeReflectors', 'give either routeReflectors (a VTEP) or listenRange (a reflector)');
  const head = [
    '! Written by rtnl for this node; rewritten when its settings change.',
    `router bgp ${asn}`,
    ` bgp router-id ${id}`,
    ' no bgp default ipv4-unicast',
    ` timers bgp ${Math.max(1, Math.floor(hold / 3))} ${hold}`,
  ];
  if (i.listenRange !== undefined) {
    const range = prefix4('listenRange', i.listenRange).text;
    return [...head,
      ` bgp cluster-id ${id}`,
      ' neighbor vteps peer-group',
      ` neighbor vteps remote-as ${asn}`,
      ` bgp listen range ${range} peer-group vteps`,
      ' address-family l2vpn evpn',
      '  neighbor vteps activate',
      '  neighbor vteps route-reflector-client',
      ' exit-address-family', ''].join('\n');
  }
  const rrs = [...new Set(i.routeReflectors!.map((r, k) => ipv4(`routeReflectors[${k}]`, r)))];
  if (rrs.length === 0) throw new RtnlInputError('routeReflectors', 'a VTEP needs at least one route reflector');
  return [...head,
    ...rrs.flatMap((r) => [` neighbor ${r} remote-as ${asn}`, ` neighbor ${r} timers connect 1`]),
    ' address-family l2vpn evpn',
    ...rrs.map((r) => `  neighbor ${r} activate`),
    '  advertise-all-vni',
    ' exit-address-family', ''].join('\n');
}

/** Where an {@link FrrSpeaker} keeps its files and how it runs. */
export interface FrrSpeakerOptions {
  /**
   * Its directory: configurations, pid files, the zebra API socket, vty
   * sockets, logs. Default: FRR's own run directory of the pathspace,
   * `/run/frr/<pathspace>`, where `vtysh -N <pathspace>` finds the sockets.
   */
  dir?: string;
  /** FRR's pathspace (`-N`): a name unique per node on the machine, [A-Za-z0-9_-]. */
  pathspace: string;
  /** The node's namespace; undefined: the current one. */
  netns?: Netns;
  /** Where FRR's daemons are; default `/usr/lib/frr` (Debian's frr). */
  binDir?: string;
  /** Bound of each wait, ms; default 10 s. */
  timeoutMs?: number;
}

/** The uid and gid of FRR's `frr` user, which its daemons drop to: their directories must be theirs. */
function frrIds(): { uid: number; gid: number } {
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('frr:'));
  const f = line?.split(':');
  if (!f) throw new Error('no frr user in /etc/passwd (is Debian\'s frr package installed?)');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

const DAEMONS = ['zebra', 'bgpd'] as const;

/** FRR's run directory: each pathspace's lives in it. */
const FRR_RUN = '/run/frr';

/** One node's FRR: zebra and bgpd in the node's namespace. */
export class FrrSpeaker {
  readonly #o: FrrSpeakerOptions;
  readonly #timeout: number;
  readonly #dir: string;

  constructor(o: FrrSpeakerOptions) {
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(o.pathspace)) throw new RtnlInputError('pathspace', `expected 1 to 32 of [A-Za-z0-9_-], got ${JSON.stringify(o.pathspace)}`);
    this.#o = o;
    this.#timeout = o.timeoutMs ?? 10_000;
    this.#dir = o.dir ?? join(FRR_RUN, o.pathspace);
  }

  /** A file of its directory: `bgpd.conf`, `bgpd.vty`... */
  file(name: string): string {
    return join(this.#dir, name);
  }

  /** The pids of the running zebra and bgpd of this directory (undefined: not running). */
  pids(): { zebra: number | undefined; bgpd: number | undefined } {
    return { zebra: daemonPid(this.file('zebra.pid'), this.file('zebra.conf')), bgpd: daemonPid(this.file('bgpd.pid'), this.file('bgpd.conf')) };
  }

  /** Writes bgpd's configuration and starts zebra, then bgpd; resolves once both run and bgpd's vty socket is there. */
  async start(bgpdConfig: string): Promise<void> {
    const { uid, gid } = frrIds();
    const dir = this.#dir;
    // FRR makes its pathspace's run directory under /run/frr, which must exist (first: the default dir is in it).
    fs.mkdirSync(FRR_RUN, { recursive: true, mode: 0o755 });
    fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
    fs.chownSync(dir, uid, gid);
    writeFileAtomic(this.file('zebra.conf'), '! zebra: nothing to configure; it reads the VNIs from the kernel\n', 0o640);
    writeFileAtomic(this.file('bgpd.conf'), bgpdConfig, 0o640);
    for (const d of DAEMONS) {
      fs.chownSync(this.file(`${d}.conf`), uid, gid);
      fs.rmSync(this.file(`${d}.pid`), { force: true });
      await launchDaemon(join(this.#o.binDir ?? '/usr/lib/frr', d), [
        '-d', '-N', this.#o.pathspace, '-f', this.file(`${d}.conf`), '-i', this.file(`${d}.pid`), '-z', this.file('zserv.api'),
        '--vty_socket', dir, '--log', `file:${this.file(`${d}.log`)}`,
      ], { netns: this.#o.netns, errFile: this.file(`${d}.err`), timeoutMs: this.#timeout });
      await waitReady(`${d} started but is not running`, () => {
        if (this.pids()[d] === undefined || !fs.existsSync(this.file(`${d}.vty`))) throw new Error('no pid file or vty socket yet');
      }, this.#timeout);
    }
  }

  /** Stops bgpd, then zebra (SIGTERM; SIGKILL after the timeout), and removes the directory and FRR's run directory of the pathspace. */
  async stop(): Promise<void> {
    const pids = this.pids();
    for (const d of [...DAEMONS].reverse()) {
      const pid = pids[d];
      if (pid !== undefined) await stopPid(pid, this.#timeout);
    }
    for (const d of [this.#dir, join(FRR_RUN, this.#o.pathspace)]) fs.rmSync(d, { recursive: true, force: true });
  }
}
