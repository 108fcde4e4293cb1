/**
 * The `rtnl` CNI plugin's handlers: bridge, vxlan, macvlan and ipvlan modes
 * on rtnl's netlink API, with IPAM delegated to the plugin named in `ipam`
 * (rtnl-ipam runs in this process: see {@link invokeIpam}).
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { CniError, CniErrorCode, type CniInterface, type CniResult, type GcContext, type PluginContext, type PluginHandlers } from '../cni/index.js';
import { Handle, type Link, type Netns, RtnlInputError, assertBatch, openNetns } from '../index.js';
import { invokeIpam } from '../ipam/invoke.js';
import { localMac } from '../primitives/names.js';
import { loadConfig, VXLAN_OVERHEAD, type RtnlNetConf } from './config.js';
import { gcIpMasq, setupIpMasq, teardownIpMasq } from './ipmasq.js';
import { SharedState } from './lock.js';
import { checkPod, configurePod, famOf, podInterface, podRoutes, PluginErrorCode, tolerate } from './pod.js';

/**
 * The host end of a pod's veth: a name derived from (container id, ifname),
 * so DEL finds it without the container's namespace or a cached result.
 */
export function hostVethName(containerId: string, ifname: string): string {
  return `rtv${fnv64(`${containerId}\0${ifname}`).slice(0, 12)}`;
}

/** FNV-1a 64 in hex: node:crypto's loading costs more than the hash (start-up dominates a plugin run). */
function fnv64(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text)) h = ((h ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, '0');
}

/** `text`, or when longer than `max` bytes, a prefix of it and a hash of the whole: names with a length limit stay distinct. */
function bounded(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text;
  return `${Buffer.from(text).subarray(0, max - 18).toString().replace(/\uFFFD$/, '')}#${fnv64(text)}`;
}

/** A random locally administered unicast MAC (uniqueness, not secrecy: Math.random suffices). */
function randomMac(): string {
  return localMac(Array.from({ length: 6 }, () => Math.floor(Math.random() * 256)));
}

/** A refused ADD: the attachment (or a namesake) exists; nothing of it is ours to undo. */
class AlreadyAttached extends CniError {
  constructor(ifname: string, details: string) {
    super(CniErrorCode.InvalidEnvironment, `container already has an interface named ${ifname}`, details);
  }
}
const alreadyHas = (ifname: string, details: string) => new AlreadyAttached(ifname, details);
const ipamType = (ctx: PluginContext): string | undefined => ctx.conf.ipam?.type;

/**
 * Opens the container's namespace (CNI_NETNS) for ADD and CHECK: missing is
 * error 3, anything but a network namespace (a file, a FIFO: opened
 * non-blocking, never waited on) error 4.
 */
function openPodNetns(netns: string): Netns {
  try {
    return openNetns({ path: netns });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') throw new CniError(CniErrorCode.UnknownContainer, `container namespace ${netns} not found`);
    if (code === 'EINVAL') throw new CniError(CniErrorCode.InvalidEnvironment, 'invalid CNI_NETNS', `${netns} is not a network namespace`);
    // A path the kernel cannot open as given (NUL byte, too long, through a file, a loop, no permission).
    if (e instanceof RtnlInputError || ['ENOTDIR', 'ENAMETOOLONG', 'ELOOP', 'EACCES', 'EPERM'].includes(code!)) {
      throw new CniError(CniErrorCode.InvalidEnvironment, 'invalid CNI_NETNS', (e as Error).message);
    }
    throw e;
  }
}

/** Opens a handle in the container's namespace; undefined when the namespace is gone. */
function podHandle(netns: string): Handle | undefined {
  if (!netns) return undefined;
  try {
    return new Handle({ path: netns });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT' || code === 'EINVAL') return undefined;
    throw e;
  }
}

/**
 * The bridge `name`, created (up, with `mtu`, promiscuous if `promisc`) when
 * missing; a concurrent creator's EEXIST is fine. An existing bridge is made
 * promiscuous when asked, as the reference plugin does, never made less so.
 */
function ensureBridge(h: Handle, name: string, mtu: number | undefined, promisc: boolean): Link {
  let br = tolerate(['ENODEV'], () => h.linkGet(name));
  if (!br) {
    // A MAC of its own: otherwise the bridge takes its lowest port's, and the pods' gateway MAC changes as ports come and go.
    tolerate(['EEXIST'], () => h.linkAdd({ kind: 'bridge', name, up: true, address: randomMac(), ...(mtu ? { mtu } : {}), ...(promisc ? { promisc } : {}) }));
    br = h.linkGet(name);
  }
  if (br.kind !== 'bridge') throw new CniError(CniErrorCode.InvalidNetworkConfig, `${name} exists and is not a bridge`, `it is a ${br.kind}`);
  if (promisc && !br.promisc) h.linkSet(br.index, { promisc });
  return br;
}

/** The pod MTU: `mtu`, or in vxlan mode the underlay's MTU less the encapsulation. */
function podMtu(h: Handle, cfg: RtnlNetConf): number | undefined {
  if (cfg.mtu !== undefined || cfg.mode !== 'vxlan') return cfg.mtu;
  const under = cfg.device ? h.linkGet(cfg.device).mtu : undefined;
  return (under ?? 1500) - VXLAN_OVERHEAD;
}

/** vxlan mode: `vx<VNI>` (nolearning, flood entries to every peer) as a port of `br<VNI>`, created when missing. */
function ensureVxlan(h: Handle, cfg: RtnlNetConf, bridge: number, mtu: number | undefined): void {
  const name = `vx${cfg.vni}`;
  if (tolerate(['ENODEV'], () => h.linkGet(name))) return;
  const device = cfg.device ? h.linkGet(cfg.device).index : undefined;
  h.linkAdd({
    kind: 'vxlan', name, vni: cfg.vni, port: cfg.dstport, learning: false, master: bridge, up: true,
    ...(cfg.local ? { local: cfg.local } : {}), ...(device ? { device } : {}), ...(mtu ? { mtu } : {}),
  });
  const link = h.linkGet(name).index;
  assertBatch(h.batch((b) => {
    for (const p of cfg.peers) {
      b.fdbAppend({ link, mac: '00:00:00:00:00:00', dst: p.underlayIp, target: 'self', state: 'permanent' });
      if (p.vtepMac) b.fdbAdd({ link, mac: p.vtepMac, dst: p.underlayIp, target: 'self', state: 'permanent' });
    }
  }));
}

/**
 * A veth pair into `bridge`: the host end by {@link hostVethName}, the pod end
 * `ifname` created directly in the container namespace. An existing host end
 * (this attachment made earlier, for any namespace) is refused, never replaced.
 */
function addVeth(h: Handle, ctx: PluginContext, cfg: RtnlNetConf, pod: Netns, bridge: Link, mtu: number | undefined): Link {
  const { containerId, ifname } = ctx.env;
  const name = hostVethName(containerId, ifname);
  const spec = {
    kind: 'veth' as const, name, master: bridge.index, up: true, ...(mtu ? { mtu } : {}),
    peer: { name: ifname, netns: pod, ...(mtu ? { mtu } : {}), ...(cfg.mac ? { address: cfg.mac } : {}) },
  };
  try {
    h.linkAdd(spec);
  } catch (e) {
    if ((e as { code?: string }).code !== 'EEXIST') throw e;
    throw tolerate(['ENODEV'], () => h.linkGet(name))
      ? alreadyHas(ifname, `host interface ${name} exists: a repeat ADD is refused, DEL the attachment first`)
      : alreadyHas(ifname, (e as Error).message);
  }
  // The alias names the owner, so GC can tell this network's stale veths from others' on a shared bridge.
  // Hairpin goes in the same request (a new port has it off).
  const res = h.batch((b) => {
    b.linkSet(name, { alias: vethAlias(ctx.conf.name, containerId, ifname), ...(cfg.hairpinMode ? { bridgePort: { hairpin: true } } : {}) });
    b.linkGet(name);
  });
  assertBatch(res);
  return (res[1] as PromiseFulfilledResult<Link>).value;
}

/**
 * The host veth's alias, naming its owner: `rtnl:<network>:<container id>:<ifname>`,
 * bounded to the kernel's 255 bytes (a long id or network name is shortened
 * with a hash, the same way here and in GC).
 */
function vethAlias(network: string, containerId: string, ifname: string): string {
  return `${aliasPrefix(network)}${bounded(`${containerId}:${ifname}`, 255 - 128)}`;
}

/** What every alias of `network`'s veths starts with (at most 128 bytes). */
const aliasPrefix = (network: string) => `rtnl:${bounded(network, 128 - 6)}:`;

/** Puts each IPAM gateway on the bridge (isGateway); already there is fine. */
function addGateways(h: Handle, bridge: number, ipam: CniResult): void {
  assertBatch(h.batch((b) => {
    for (const ip of ipam.ips ?? []) {
      if (!ip.gateway) continue;
      const prefix = ip.address.split('/')[1];
      b.addrAdd({ link: bridge, address: `${ip.gateway}/${prefix}`, ...(famOf(ip.gateway) === 6 ? { flags: ['nodad' as const] } : {}) });
    }
  }), ['EEXIST']);
  for (const fam of new Set((ipam.ips ?? []).filter((ip) => ip.gateway).map((ip) => famOf(ip.gateway!)))) enableForwarding(fam);
}

/** A gateway routes for its pods, so the host forwards (as the reference bridge plugin does); written only when off. */
function enableForwarding(fam: 4 | 6): void {
  const file = fam === 4 ? '/proc/sys/net/ipv4/ip_forward' : '/proc/sys/net/ipv6/conf/all/forwarding';
  if (readFileSync(file, 'utf8').trim() !== '1') writeFileSync(file, '1');
}

/** Host side of bridge/vxlan modes (all but the gateways, which need the IPAM result): the result's host interfaces and the bridge. */
function attachBridge(h: Handle, ctx: PluginContext, cfg: RtnlNetConf, pod: Netns, mtu: number | undefined): { interfaces: CniInterface[]; bridge: number } {
  const br = ensureBridge(h, cfg.bridge, mtu, cfg.promiscMode);
  if (cfg.mode === 'vxlan') ensureVxlan(h, cfg, br.index, mtu);
  const veth = addVeth(h, ctx, cfg, pod, br, mtu);
  return {
    interfaces: [{ name: br.name, ...(br.address ? { mac: br.address } : {}) }, { name: veth.name, ...(veth.address ? { mac: veth.address } : {}) }],
    bridge: br.index,
  };
}

/** macvlan/ipvlan: the parent link, in our namespace (error 7 when missing). */
function masterOf(h: Handle, cfg: RtnlNetConf): Link {
  const master = tolerate(['ENODEV'], () => h.linkGet(cfg.master));
  if (!master) throw new CniError(CniErrorCode.InvalidNetworkConfig, `master interface ${cfg.master} not found`);
  return master;
}

/** macvlan/ipvlan: the link is created directly in the container namespace, its parent looked up in ours. */
function attachVlan(h: Handle, ctx: PluginContext, cfg: RtnlNetConf, pod: Netns, mtu: number | undefined): void {
  const master = masterOf(h, cfg);
  const common = { name: ctx.env.ifname, link: master.index, netns: pod, ...(mtu ? { mtu } : {}) };
  try {
    if (cfg.mode === 'macvlan') h.linkAdd({ kind: 'macvlan', mode: cfg.macvlanMode, ...common, ...(cfg.mac ? { address: cfg.mac } : {}) });
    else h.linkAdd({ kind: 'ipvlan', mode: cfg.ipvlanMode, ...common });
  } catch (e) {
    throw (e as { code?: string }).code === 'EEXIST' ? alreadyHas(ctx.env.ifname, (e as Error).message) : e;
  }
}

const shared = (cfg: RtnlNetConf) => new SharedState(cfg.stateDir, `vxlan-${cfg.vni}`);
/** A vxlan user's file name, within NAME_MAX; ':' cannot occur in network names, container ids or interface names. */
const userKey = (network: string, containerId: string, ifname: string) => `${bounded(network, 120)}:${bounded(`${containerId}:${ifname}`, 120)}`;
const userId = (ctx: PluginContext) => userKey(ctx.conf.name, ctx.env.containerId, ctx.env.ifname);

/** Removes the host side of an attachment (the pod end goes with it); idempotent. */
async function detach(h: Handle, ctx: PluginContext, cfg: RtnlNetConf): Promise<void> {
  const { containerId, ifname, netns } = ctx.env;
  if (cfg.mode === 'macvlan' || cfg.mode === 'ipvlan') {
    const ph = podHandle(netns);
    if (!ph) return;
    try { tolerate(['ENODEV'], () => ph.linkDel(ifname)); } finally { ph.close(); }
    return;
  }
  const del = () => tolerate(['ENODEV'], () => h.linkDel(hostVethName(containerId, ifname)));
  if (cfg.mode === 'bridge') {
    del();
    return;
  }
  const st = shared(cfg);
  await st.locked(() => {
    del();
    if (st.removeUser(userId(ctx)) === 0) {
      tolerate(['ENODEV'], () => h.linkDel(`vx${cfg.vni}`));
      tolerate(['ENODEV'], () => h.linkDel(cfg.bridge));
    }
  });
}

/**
 * ADD. An exec'd IPAM plugin runs while the links are made: its process
 * start-up (tens of ms) overlaps our netlink work; the addresses go on once it answers.
 *
 * A repeat ADD of an attachment (the container already has CNI_IFNAME) is
 * refused with error 4 before anything is made or reserved, as the reference
 * bridge plugin refuses it: the existing attachment stays exactly as it is
 * (its MAC, its address), and the failure's undo cannot touch it.
 */
async function add(ctx: PluginContext): Promise<CniResult> {
  const cfg = loadConfig(ctx.conf, ctx.env);
  const type = ipamType(ctx);
  if (!type) throw new CniError(CniErrorCode.InvalidNetworkConfig, 'invalid ipam', 'the rtnl plugin needs an ipam section');
  const podNs = openPodNetns(ctx.env.netns);
  let ph: Handle | undefined, h: Handle | undefined;
  try {
    // Before IPAM: it answers a repeat ADD with the address already held, which the failure's undo would then release.
    ph = new Handle(podNs);
    h = new Handle();
    if (cfg.mode === 'macvlan' || cfg.mode === 'ipvlan') masterOf(h, cfg); // a config error comes before the state's
    const veth = hostVethName(ctx.env.containerId, ctx.env.ifname);
    if (tolerate(['ENODEV'], () => ph!.linkGet(ctx.env.ifname)) || ((cfg.mode === 'bridge' || cfg.mode === 'vxlan') && tolerate(['ENODEV'], () => h!.linkGet(veth)))) {
      throw alreadyHas(ctx.env.ifname, 'a repeat ADD is refused: DEL the attachment first');
    }
  } catch (e) {
    ph?.close();
    h?.close();
    podNs.close();
    throw e;
  }
  return addChecked(ctx, cfg, type, podNs, ph, h);
}

/** ADD once {@link add} has found the attachment new: `podNs`, `ph` (in it) and `h` (ours) are closed when done. */
async function addChecked(ctx: PluginContext, cfg: RtnlNetConf, type: string, podNs: Netns, ph: Handle, h: Handle): Promise<CniResult> {
  const ipamRun = invokeIpam(type, 'ADD', ctx.raw, ctx.vars);
  const ipamOk = ipamRun.then(() => true, () => false); // also keeps a rejection from going unhandled while we work
  let undoLinks = false;
  try {
    const mtu = podMtu(h, cfg);
    let host: { interfaces: CniInterface[]; bridge: number } | undefined;
    // macvlan/ipvlan links are found by CNI_IFNAME in the pod: undo only one we made, never a namesake that was there.
    undoLinks = cfg.mode === 'bridge' || cfg.mode === 'vxlan';
    if (cfg.mode === 'bridge') host = attachBridge(h, ctx, cfg, podNs, mtu);
    else if (cfg.mode === 'vxlan') {
      const st = shared(cfg);
      host = await st.locked(() => {
        const fresh = !st.users().includes(userId(ctx));
        st.addUser(userId(ctx)); // before the devices: a failure midway still leaves a user to DEL
        try {
          return attachBridge(h, ctx, cfg, podNs, mtu);
        } catch (e) {
          if (e instanceof AlreadyAttached && fresh) st.removeUser(userId(ctx));
          throw e;
        }
      });
    } else {
      attachVlan(h, ctx, cfg, podNs, mtu);
      undoLinks = true;
    }
    const ipam = await ipamRun;
    if (host && cfg.isGateway) addGateways(h, host.bridge, ipam);
    if (cfg.ipMasq) await setupIpMasq(ctx.conf.name, ctx.env.containerId, (ipam.ips ?? []).map((ip) => ip.address));
    const routes = podRoutes(ipam, cfg.isDefaultGateway);
    const pod = ph.linkGet(ctx.env.ifname);
    configurePod(ph, pod.index, ipam.ips ?? [], routes);
    const interfaces = [...(host?.interfaces ?? []), podInterface(ctx.env.ifname, pod, ctx.env.netns)];
    const dns = ctx.conf.dns && Object.keys(ctx.conf.dns).length ? ctx.conf.dns : ipam.dns;
    return {
      interfaces,
      ips: (ipam.ips ?? []).map((ip) => ({ ...ip, interface: interfaces.length - 1 })),
      ...(routes.length ? { routes } : {}),
      ...(dns ? { dns } : {}),
    };
  } catch (e) {
    // Leave nothing behind: the links, the masquerade, then the address; a refused ADD made none of them,
    // and the existing attachment is not ours to undo.
    if (!(e instanceof AlreadyAttached)) {
      if (undoLinks) await detach(h, ctx, cfg).catch(() => undefined);
      if (cfg.ipMasq) await teardownIpMasq(ctx.conf.name, ctx.env.containerId).catch(() => undefined);
      if (await ipamOk) await invokeIpam(type, 'DEL', ctx.raw, ctx.vars).catch(() => undefined);
    }
    throw e;
  } finally {
    h.close();
    ph.close();
    podNs.close();
  }
}

/** DEL: IPAM's DEL runs while the links go (as in ADD, an exec'd one's start-up overlaps our work). */
async function del(ctx: PluginContext): Promise<void> {
  const cfg = loadConfig(ctx.conf, ctx.env);
  const type = ipamType(ctx);
  const ipamRun = type ? invokeIpam(type, 'DEL', ctx.raw, ctx.vars) : Promise.resolve(undefined);
  ipamRun.catch(() => undefined); // awaited after the links go: not an unhandled rejection meanwhile (in-process IPAM fails at once)
  const h = new Handle();
  try {
    await detach(h, ctx, cfg);
    if (cfg.ipMasq) await teardownIpMasq(ctx.conf.name, ctx.env.containerId);
  } finally {
    h.close();
    await ipamRun; // its error, if any, is DEL's error: the runtime retries
  }
}

async function check(ctx: PluginContext): Promise<void> {
  const cfg = loadConfig(ctx.conf, ctx.env);
  const prev = ctx.conf.prevResult;
  if (!prev) throw new CniError(CniErrorCode.InvalidNetworkConfig, 'CHECK needs a prevResult');
  const type = ipamType(ctx);
  if (type) await invokeIpam(type, 'CHECK', ctx.raw, ctx.vars);
  if (cfg.mode === 'bridge' || cfg.mode === 'vxlan') {
    const h = new Handle();
    try {
      const name = hostVethName(ctx.env.containerId, ctx.env.ifname);
      const veth = tolerate(['ENODEV'], () => h.linkGet(name));
      const br = tolerate(['ENODEV'], () => h.linkGet(cfg.bridge));
      if (!br) throw new CniError(PluginErrorCode.CheckFailed, `bridge ${cfg.bridge} not found`);
      if (!veth) throw new CniError(PluginErrorCode.CheckFailed, `host interface ${name} not found`);
      if (veth.master !== br.index) throw new CniError(PluginErrorCode.CheckFailed, `host interface ${name} is not a port of ${cfg.bridge}`);
      if (cfg.hairpinMode && !veth.bridgePort?.hairpin) throw new CniError(PluginErrorCode.CheckFailed, `host interface ${name} is not in hairpin mode`);
      if (cfg.promiscMode && !br.promisc) throw new CniError(PluginErrorCode.CheckFailed, `bridge ${cfg.bridge} is not in promiscuous mode`);
    } finally {
      h.close();
    }
  }
  const podNs = openPodNetns(ctx.env.netns);
  try {
    const ph = new Handle(podNs);
    try {
      checkPod(ph, ctx.env.ifname, prev);
    } finally {
      ph.close();
    }
  } finally {
    podNs.close();
  }
}

async function status(ctx: PluginContext): Promise<void> {
  const cfg = loadConfig(ctx.conf, ctx.env);
  if (cfg.mode === 'macvlan' || cfg.mode === 'ipvlan') {
    const h = new Handle();
    try {
      if (!tolerate(['ENODEV'], () => h.linkGet(cfg.master))) throw new CniError(CniErrorCode.PluginNotAvailable, `master interface ${cfg.master} not found`);
    } finally {
      h.close();
    }
  }
  const type = ipamType(ctx);
  if (type) await invokeIpam(type, 'STATUS', ctx.raw, ctx.vars);
}

/**
 * GC: IPAM's GC, then (bridge, vxlan) the masquerade rules (`ipMasq`) and
 * the host veths this network made for attachments not in the valid list — a runtime that never sent DEL
 * (`ctr run -d` + `ctr c rm`) leaves them — and in vxlan mode those
 * attachments' users, removing br/vx with the last one.
 */
async function gc(ctx: GcContext): Promise<void> {
  const type = ipamType(ctx);
  if (type) await invokeIpam(type, 'GC', ctx.raw, ctx.vars);
  const cfg = loadConfig(ctx.conf, ctx.env);
  if (cfg.mode !== 'bridge' && cfg.mode !== 'vxlan') return;
  const network = ctx.conf.name;
  if (cfg.ipMasq) await gcIpMasq(network, new Set(ctx.validAttachments.map((a) => a.containerID)));
  const keep = new Set(ctx.validAttachments.map((a) => vethAlias(network, a.containerID, a.ifname)));
  const h = new Handle();
  try {
    const sweep = () => {
      const br = tolerate(['ENODEV'], () => h.linkGet(cfg.bridge));
      if (!br) return;
      const stale = h.linkList({ master: br.index })
        .filter((l) => l.kind === 'veth' && l.alias?.startsWith(aliasPrefix(network)) && !keep.has(l.alias));
      assertBatch(h.batch((b) => { for (const l of stale) b.linkDel(l.index); }), ['ENODEV']);
    };
    if (cfg.mode === 'bridge') {
      sweep();
      return;
    }
    const keepUsers = new Set(ctx.validAttachments.map((a) => userKey(network, a.containerID, a.ifname)));
    const st = shared(cfg);
    await st.locked(() => {
      sweep();
      // Also users whose veth is already gone (deleted with their namespace).
      for (const u of st.users()) if (u.startsWith(`${network}:`) && !keepUsers.has(u)) st.removeUser(u);
      if (st.users().length === 0) {
        tolerate(['ENODEV'], () => h.linkDel(`vx${cfg.vni}`));
        tolerate(['ENODEV'], () => h.linkDel(cfg.bridge));
      }
    });
  } finally {
    h.close();
  }
}

/** The plugin's handlers, for {@link runPlugin}. */
export const rtnlHandlers: PluginHandlers = { add, del, check, status, gc };
