/**
 * The `rtnl` plugin's configuration: one plugin type, four modes.
 *
 * ```jsonc
 * { "cniVersion": "1.1.0", "name": "pods", "type": "rtnl",
 *   "mode": "bridge",                 // "bridge" (default) | "vxlan" | "macvlan" | "ipvlan"
 *   "mtu": 1500,                      // pod interface (and bridge) MTU
 *   "mac": "02:00:00:00:00:01",       // pod MAC; also runtimeConfig.mac, CNI_ARGS MAC=, args.cni.mac
 *   // bridge, vxlan
 *   "bridge": "cni0",                 // bridge mode default cni0; vxlan mode always br<VNI>
 *   "isGateway": false,               // put the IPAM gateway addresses on the bridge
 *   "isDefaultGateway": false,        // default route in the pod via the gateway (implies isGateway)
 *   "hairpinMode": false,             // the host veth (a bridge port) reflects frames back to the pod
 *   "promiscMode": false,             // the bridge in promiscuous mode
 *   "ipMasq": false,                  // masquerade the pod's traffic leaving its subnet (see ./ipmasq)
 *   // vxlan
 *   "vni": 42, "dstport": 4789, "local": "192.168.1.10", "device": "eth0",
 *   "peers": [{ "underlayIp": "192.168.1.11", "vtepMac": "02:..." }],
 *   "evpn": false,                    // true: a BGP EVPN speaker programs the FDB (no peers; local required)
 *   "stateDir": "/run/rtnl-cni",      // lock and reference counts of the shared br/vx devices
 *   // macvlan, ipvlan
 *   "master": "eth0", "macvlanMode": "bridge", "ipvlanMode": "l2",
 *   "ipam": { "type": "rtnl-ipam", ... } }
 * ```
 * Any other key is refused (see {@link loadConfig}).
 * @module
 */
import { CniError, CniErrorCode, type CniEnv, type NetConf } from '../cni/index.js';
import { IPVLAN_MODES, MACVLAN_MODES, type IpvlanMode, type MacvlanMode } from '../index.js';
import { type Obj, isObj } from '../primitives/json.js';
import { ifnameProblem, isMac } from '../primitives/names.js';

/** The plugin's modes. */
export type PluginMode = 'bridge' | 'vxlan' | 'macvlan' | 'ipvlan';

/** A static VXLAN peer (another node's VTEP). */
export interface VxlanPeer {
  underlayIp: string;
  vtepMac?: string;
}

/** The validated configuration. */
export interface RtnlNetConf {
  mode: PluginMode;
  mtu: number | undefined;
  mac: string | undefined;
  bridge: string;
  isGateway: boolean;
  isDefaultGateway: boolean;
  hairpinMode: boolean;
  promiscMode: boolean;
  ipMasq: boolean;
  vni: number;
  dstport: number;
  local: string | undefined;
  device: string | undefined;
  peers: VxlanPeer[];
  /** vxlan mode: a BGP EVPN speaker on the node (FRR, advertise-all-vni) programs the FDB; no static peers. */
  evpn: boolean;
  stateDir: string;
  master: string;
  /** Every macvlan mode but `source` (which needs a list of source MACs the plugin has no option for). */
  macvlanMode: Exclude<MacvlanMode, 'source'>;
  ipvlanMode: IpvlanMode;
}

/** Where the vxlan mode keeps its locks and reference counts unless `stateDir` says otherwise. */
export const DEFAULT_STATE_DIR = '/run/rtnl-cni';
/** VXLAN over IPv4 adds 50 bytes (outer Ethernet excluded): the pod MTU is reduced by this. */
export const VXLAN_OVERHEAD = 50;

const MODES: readonly PluginMode[] = ['bridge', 'vxlan', 'macvlan', 'ipvlan'];

/** This plugin's own keys. */
const OWN_KEYS = ['mode', 'mtu', 'mac', 'bridge', 'isGateway', 'isDefaultGateway', 'hairpinMode', 'promiscMode',
  'vni', 'dstport', 'local', 'device', 'peers', 'evpn', 'stateDir', 'master', 'macvlanMode', 'ipvlanMode'];
/**
 * The keys the CNI spec defines for a plugin's config: those runtimes inject
 * (name, cniVersion, runtimeConfig, args, prevResult, and any `cni.dev/` key,
 * e.g. GC's `cni.dev/valid-attachments`), the protocol's `capabilities`, the
 * well-known `ipMasq`, `ipam`, `dns`, and the network-level keys a
 * single-plugin network file carries beside them.
 */
const SPEC_KEYS = ['cniVersion', 'cniVersions', 'name', 'type', 'args', 'runtimeConfig', 'capabilities', 'prevResult',
  'ipMasq', 'ipam', 'dns', 'disableCheck', 'disableGC', 'loadOnlyInlinedPlugins'];
const KNOWN_KEYS = new Set([...OWN_KEYS, ...SPEC_KEYS]);

/** The known key `k` most likely stands for (same letters ignoring case, or a prefix either way), for the error's hint. */
function closest(k: string): string | undefined {
  const l = k.toLowerCase();
  return [...KNOWN_KEYS].find((o) => o.toLowerCase() === l) ?? [...KNOWN_KEYS].find((o) => o.toLowerCase().startsWith(l) || l.startsWith(o.toLowerCase()));
}

/**
 * Refuses keys neither this plugin nor the CNI spec defines (error 7, naming
 * them): a misspelled option (`hairpin` for `hairpinMode`) would otherwise
 * be ignored and the pod attached without it.
 */
function checkKeys(c: Obj): void {
  const unknown = Object.keys(c).filter((k) => !KNOWN_KEYS.has(k) && !k.startsWith('cni.dev/'));
  if (unknown.length === 0) return;
  const hints = unknown.map((k) => { const o = closest(k); return o ? `${JSON.stringify(k)} (did you mean ${JSON.stringify(o)}?)` : JSON.stringify(k); });
  throw new CniError(CniErrorCode.InvalidNetworkConfig, `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')}`,
    `the rtnl plugin does not know ${hints.join(', ')}; it knows ${OWN_KEYS.join(', ')} and the CNI spec's ${SPEC_KEYS.join(', ')}`);
}
const invalid = (field: string, what: string): CniError => new CniError(CniErrorCode.InvalidNetworkConfig, `invalid ${field}`, what);

function opt<T>(c: Obj, k: string, type: 'string' | 'boolean' | 'number', def: T): T {
  const v = c[k];
  if (v === undefined || v === null || v === '') return def;
  if (typeof v !== type) throw invalid(k, `must be a ${type}`);
  if (type === 'number' && !Number.isInteger(v)) throw invalid(k, 'must be an integer');
  return v as T;
}

function ifnameField(c: Obj, k: string, def: string): string {
  const v = opt(c, k, 'string', def);
  const problem = v === '' ? undefined : ifnameProblem(v); // '': no master (the default)
  if (problem) throw invalid(k, `${JSON.stringify(v)} is not an interface name: it ${problem}`);
  return v;
}

function oneOf<T extends string>(c: Obj, k: string, list: readonly T[], def: T): T {
  const v = opt(c, k, 'string', def);
  if (!(list as readonly string[]).includes(v)) throw invalid(k, `${JSON.stringify(v)}: expected one of ${list.join(', ')}`);
  return v as T;
}

/** The requested pod MAC: runtimeConfig.mac, then CNI_ARGS MAC=, then args.cni.mac, then `mac`. */
function podMac(conf: NetConf, env: CniEnv): string | undefined {
  const rc = conf.runtimeConfig?.mac;
  const arg = env.args.find(([k]) => k === 'MAC')?.[1];
  const cni = (conf.args as { cni?: { mac?: unknown } } | undefined)?.cni?.mac;
  const mac = [rc, arg, cni, conf.mac].find((m) => m !== undefined && m !== '');
  if (mac === undefined) return undefined;
  if (!isMac(mac)) throw invalid('mac', `${JSON.stringify(mac)} is not a MAC address`);
  return mac.toLowerCase();
}

/** A switch of the bridge (or its ports): true is error 2 in the modes without one. */
function bridgeOption(c: Obj, k: string, mode: PluginMode): boolean {
  const on = opt(c, k, 'boolean', false);
  if (on && (mode === 'macvlan' || mode === 'ipvlan')) {
    throw new CniError(CniErrorCode.UnsupportedField, `unsupported field: ${k}=true`, `${mode} mode has no bridge: ${k} applies in bridge and vxlan modes`);
  }
  return on;
}

/**
 * Validates the plugin's fields (error 7 names the field). `hairpinMode`,
 * `promiscMode` and `ipMasq` set to true in a mode without a bridge (macvlan,
 * ipvlan) are error 2, unsupported field, rather than being ignored silently.
 * An unknown key is error 7 too, except on DEL and GC, which must clean up
 * after a config however it was written.
 */
export function loadConfig(conf: NetConf, env: CniEnv): RtnlNetConf {
  const c = conf as Obj;
  if (env.command !== 'DEL' && env.command !== 'GC') checkKeys(c);
  const mode = oneOf(c, 'mode', MODES, 'bridge');
  const mtu = opt<number | undefined>(c, 'mtu', 'number', undefined);
  if (mtu !== undefined && (mtu < 68 || mtu > 65535)) throw invalid('mtu', `${mtu} is outside 68..65535`);
  const vni = opt(c, 'vni', 'number', 0);
  if (mode === 'vxlan' && (vni < 1 || vni > 0xffffff)) throw invalid('vni', 'vxlan mode needs a vni from 1 to 16777215');
  const dstport = opt(c, 'dstport', 'number', 4789);
  if (dstport < 1 || dstport > 65535) throw invalid('dstport', `${dstport} is not a UDP port`);
  const peersRaw = c.peers ?? [];
  if (!Array.isArray(peersRaw)) throw invalid('peers', 'must be a list of { underlayIp, vtepMac? }');
  const peers = peersRaw.map((p, i): VxlanPeer => {
    if (!isObj(p) || typeof p.underlayIp !== 'string' || !p.underlayIp) throw invalid(`peers[${i}]`, 'must be { underlayIp, vtepMac? }');
    if (p.vtepMac !== undefined && !isMac(p.vtepMac)) throw invalid(`peers[${i}].vtepMac`, 'is not a MAC address');
    return p.vtepMac === undefined ? { underlayIp: p.underlayIp } : { underlayIp: p.underlayIp, vtepMac: p.vtepMac };
  });
  const evpn = opt(c, 'evpn', 'boolean', false);
  if (evpn && mode !== 'vxlan') throw invalid('evpn', 'applies to vxlan mode');
  if (evpn && peers.length > 0) throw invalid('peers', 'evpn: the EVPN speaker finds the peers, give no static ones');
  if (evpn && c.local === undefined) throw invalid('local', 'evpn needs the node\'s underlay address (the VTEP the speaker advertises)');
  const master = ifnameField(c, 'master', '');
  if ((mode === 'macvlan' || mode === 'ipvlan') && !master) throw invalid('master', `${mode} mode needs a master interface`);
  const isDefaultGateway = opt(c, 'isDefaultGateway', 'boolean', false);
  return {
    mode, mtu, mac: podMac(conf, env),
    bridge: mode === 'vxlan' ? `br${vni}` : ifnameField(c, 'bridge', 'cni0'),
    isGateway: opt(c, 'isGateway', 'boolean', false) || isDefaultGateway,
    isDefaultGateway, hairpinMode: bridgeOption(c, 'hairpinMode', mode), promiscMode: bridgeOption(c, 'promiscMode', mode),
    ipMasq: bridgeOption(c, 'ipMasq', mode), vni, dstport,
    local: opt<string | undefined>(c, 'local', 'string', undefined),
    device: opt<string | undefined>(c, 'device', 'string', undefined),
    peers, evpn,
    stateDir: opt(c, 'stateDir', 'string', DEFAULT_STATE_DIR),
    master,
    macvlanMode: oneOf(c, 'macvlanMode', MACVLAN_MODES.filter((m): m is Exclude<MacvlanMode, 'source'> => m !== 'source'), 'bridge'),
    ipvlanMode: oneOf(c, 'ipvlanMode', IPVLAN_MODES, 'l2'),
  };
}
