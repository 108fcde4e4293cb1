/**
 * The IPAM plugin's handlers: ADD allocates one address per range set (or
 * returns what the container already holds), DEL releases, CHECK verifies,
 * GC releases what no valid attachment holds, STATUS reports exhaustion.
 * @module
 */
import { CniError, CniErrorCode, type CniIpConfig, type CniResult, type GcContext, type PluginContext, type PluginHandlers } from '../cni/index.js';
import { allocate, hasFree, IpamErrorCode, rangeFor, rangeSetText, usable } from './allocator.js';
import { loadIpamConfig, type IpamConfig, type Range } from './config.js';
import { formatIp, parseCidr, withPrefix, type Ip } from '../primitives/ip.js';
import { Store, type Entry } from './store.js';

function open(ctx: PluginContext): { cfg: IpamConfig; store: Store } {
  const cfg = loadIpamConfig(ctx.conf, ctx.env);
  return { cfg, store: new Store(cfg.dataDir, cfg.name) };
}

const ipConfig = (ip: Ip, r: Range): CniIpConfig => ({ address: withPrefix(ip, r.subnet.prefix), gateway: formatIp(r.gateway) });

function add(ctx: PluginContext): CniResult {
  const { cfg, store } = open(ctx);
  const { containerId: id, ifname } = ctx.env;
  const entries = store.entries();
  const taken = new Set(entries.map((e) => e.name));
  const mine = entries.filter((e) => e.owner?.id === id.trim() && (e.owner.ifname === ifname || e.owner.ifname === undefined));
  const requested = new Map(cfg.requested.map((ip) => [formatIp(ip), ip]));
  const won: string[] = [];
  const ips: CniIpConfig[] = [];
  try {
    cfg.rangeSets.forEach((set, index) => {
      const req = [...requested.values()].find((ip) => rangeFor(set, ip));
      if (req) requested.delete(formatIp(req));
      const held = mine.find((e) => rangeFor(set, e.ip));
      if (held) {
        // Re-ADD of the same container and interface: answer with what it holds.
        if (req && req.value !== held.ip.value) {
          throw new CniError(IpamErrorCode.RequestedUnavailable, `requested IP ${formatIp(req)} differs from ${held.name}`,
            `container ${id} ${ifname} already holds ${held.name} in range set ${index}`);
        }
        ips.push(ipConfig(held.ip, rangeFor(set, held.ip)!));
        return;
      }
      if (req) {
        const r = rangeFor(set, req)!;
        if (!usable(r, req.value) || !store.reserve(req, id, ifname)) {
          throw new CniError(IpamErrorCode.RequestedUnavailable, `requested IP address ${formatIp(req)} is not available in range set ${index}`,
            usable(r, req.value) ? 'it is held by another container' : 'it is the gateway, network or broadcast address');
        }
        won.push(formatIp(req));
        // As host-local: round robin resumes after a requested address too.
        if (cfg.allocation === 'sequential') store.setLastReserved(index, req);
        ips.push(ipConfig(req, r));
        return;
      }
      const { ip, range } = allocate(store, set, index, id, ifname, taken, cfg.allocation);
      won.push(formatIp(ip));
      ips.push(ipConfig(ip, range));
    });
    if (requested.size) {
      throw new CniError(IpamErrorCode.RequestedUnavailable, 'failed to allocate all requested IPs',
        `${[...requested.keys()].join(', ')} not in any range set (${cfg.rangeSets.map(rangeSetText).join('; ')})`);
    }
  } catch (e) {
    for (const name of won) store.releaseIfOwned(name, id, ifname); // keep nothing from a failed ADD
    throw e;
  } finally {
    store.close();
  }
  return { ips, ...(cfg.routes.length ? { routes: cfg.routes } : {}), dns: cfg.dns };
}

/** ADD's result never reached its caller (killed meanwhile): release the addresses it gave (id, ifname), which no one else knows of. */
function undoAdd(ctx: PluginContext, result: CniResult): void {
  const { store } = open(ctx);
  for (const ip of result.ips ?? []) {
    const p = parseCidr(ip.address);
    if (p) store.releaseIfOwned(formatIp(p.addr), ctx.env.containerId, ctx.env.ifname);
  }
}

function del(ctx: PluginContext): void {
  const { store } = open(ctx);
  const entries = store.entries();
  store.releaseOwner(ctx.env.containerId, ctx.env.ifname, entries);
  store.sweep(entries);
}

function check(ctx: PluginContext): void {
  const { cfg, store } = open(ctx);
  const { containerId: id, ifname } = ctx.env;
  const mine = store.entries().filter((e) => e.owner?.id === id.trim() && (e.owner.ifname === ifname || e.owner.ifname === undefined));
  cfg.rangeSets.forEach((set, index) => {
    if (!mine.some((e) => rangeFor(set, e.ip))) {
      throw new CniError(IpamErrorCode.NotAllocated, `no address allocated to ${id} ${ifname} in range set ${index}`, rangeSetText(set));
    }
  });
  for (const ip of ctx.conf.prevResult?.ips ?? []) {
    const p = parseCidr(ip.address);
    if (!p || !cfg.rangeSets.some((set) => rangeFor(set, p.addr))) continue; // not ours
    if (!mine.some((e) => e.ip.value === p.addr.value && e.ip.family === p.addr.family)) {
      throw new CniError(IpamErrorCode.NotAllocated, `prevResult address ${ip.address} is not held by ${id} ${ifname}`);
    }
  }
}

function gc(ctx: GcContext): void {
  const { store } = open(ctx);
  const keep = new Set(ctx.validAttachments.map((a) => `${a.containerID.trim()}\n${a.ifname}`));
  const ids = new Set(ctx.validAttachments.map((a) => a.containerID.trim()));
  const stale = (e: Entry): boolean => e.owner !== undefined
    && (e.owner.ifname === undefined ? !ids.has(e.owner.id) : !keep.has(`${e.owner.id}\n${e.owner.ifname}`));
  const entries = store.entries();
  for (const e of entries) if (stale(e)) store.release(e.name);
  store.sweep(entries);
}

function status(ctx: PluginContext): void {
  const { cfg, store } = open(ctx);
  if (!store.writable()) {
    throw new CniError(CniErrorCode.PluginNotAvailable, `the store ${store.dir} is not writable`);
  }
  const taken = store.names();
  const full = cfg.rangeSets.map((set, i) => [set, i] as const).filter(([set]) => !hasFree(set, taken));
  if (full.length) {
    throw new CniError(CniErrorCode.PluginNotAvailable, 'no IP addresses available',
      full.map(([set, i]) => `range set ${i} is exhausted: ${rangeSetText(set)}`).join('; '));
  }
}

/** The IPAM plugin's handlers, for {@link runPlugin}. */
export const ipamHandlers: PluginHandlers = { add, del, check, gc, status, undoAdd };
