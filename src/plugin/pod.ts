/**
 * The pod side, shared by every mode: addresses and routes from the IPAM
 * result put on the pod interface in one batch, and CHECK's comparison of
 * the pod's interface, addresses and routes with a previous result.
 * @module
 */
import { CniError, type CniInterface, type CniIpConfig, type CniResult, type CniRoute } from '../cni/index.js';
import { NetlinkError, assertBatch, type Handle, type Link, type RouteSpec } from '../index.js';
import { formatIp, parseCidr, parseIp } from '../primitives/ip.js';

/** Plugin-specific error codes (100 and up, as the spec reserves). */
export const PluginErrorCode = {
  /** CHECK found the pod's networking differing from the previous result. */
  CheckFailed: 110,
} as const;

/** The family of an address or prefix in text. */
export const famOf = (addr: string): 4 | 6 => (addr.includes(':') ? 6 : 4);

/** Runs fn, treating a NetlinkError with one of the `ok` codes as success. */
export function tolerate<T>(ok: readonly string[], fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (e instanceof NetlinkError && ok.includes(e.code)) return undefined;
    throw e;
  }
}

/**
 * The routes to program: the IPAM routes (a route without `gw` goes via the
 * gateway of its family, as the reference plugins do), plus a default route
 * per family via the gateway when `defaultGateway` and IPAM gave none.
 */
export function podRoutes(ipam: CniResult, defaultGateway: boolean): CniRoute[] {
  const ips = ipam.ips ?? [];
  const gw = (fam: 4 | 6) => ips.find((ip) => famOf(ip.address) === fam && ip.gateway)?.gateway;
  const routes = (ipam.routes ?? []).map((r) => {
    const g = r.gw ?? gw(famOf(r.dst));
    return g === undefined ? { ...r } : { ...r, gw: g };
  });
  if (defaultGateway) {
    for (const fam of [4, 6] as const) {
      const g = gw(fam);
      const dst = fam === 4 ? '0.0.0.0/0' : '::/0';
      if (g !== undefined && !routes.some((r) => famOf(r.dst) === fam && isDefault(r.dst))) routes.push({ dst, gw: g });
    }
  }
  return routes;
}

const isDefault = (dst: string) => /\/0$/.test(dst) || dst === 'default';

function routeSpec(r: CniRoute, link: number): RouteSpec {
  const metrics = r.mtu !== undefined || r.advmss !== undefined ? { ...(r.mtu !== undefined ? { mtu: r.mtu } : {}), ...(r.advmss !== undefined ? { advmss: r.advmss } : {}) } : undefined;
  return {
    dst: r.dst, link,
    ...(r.gw !== undefined ? { gateway: r.gw } : {}),
    ...(r.priority !== undefined ? { priority: r.priority } : {}),
    ...(r.table !== undefined ? { table: r.table } : {}),
    ...(r.scope !== undefined ? { scope: r.scope } : {}),
    ...(metrics ? { metrics } : {}),
  };
}

/**
 * Brings the pod interface up and adds the addresses (IPv6 with `nodad`: no
 * DAD wait on the hot path) and routes, pipelined in one batch in that order.
 */
export function configurePod(h: Handle, link: number, ips: CniIpConfig[], routes: CniRoute[]): void {
  assertBatch(h.batch((b) => {
    b.linkSetUp(link);
    for (const ip of ips) b.addrAdd({ link, address: ip.address, ...(famOf(ip.address) === 6 ? { flags: ['nodad' as const] } : {}) });
    for (const r of routes) b.routeAdd(routeSpec(r, link));
  }));
}

/** The container interface of a result, for interface `ifname`. */
export function podInterface(ifname: string, link: Link, sandbox: string): CniInterface {
  return { name: ifname, ...(link.address ? { mac: link.address } : {}), ...(link.mtu ? { mtu: link.mtu } : {}), sandbox };
}

/** Canonical text of an address with or without prefix (so `fd00::01/64` equals `fd00::1/64`). */
function canon(s: string): string {
  if (isDefault(s)) return 'default';
  const c = parseCidr(s);
  if (c) return `${formatIp(c.addr)}/${c.cidr.prefix}`;
  const ip = parseIp(s);
  return ip ? formatIp(ip) : s;
}

const checkFailed = (msg: string, details?: string) => new CniError(PluginErrorCode.CheckFailed, msg, details);

/**
 * CHECK: the pod interface `ifname` exists with the MAC, addresses and routes
 * `prev` gives it. Throws error 110 naming what differs.
 */
export function checkPod(h: Handle, ifname: string, prev: CniResult): void {
  const link = tolerate(['ENODEV'], () => h.linkGet(ifname));
  if (!link) throw checkFailed(`interface ${ifname} not found in the container`);
  const idx = (prev.interfaces ?? []).findIndex((i) => i.name === ifname && i.sandbox);
  const want = prev.interfaces?.[idx];
  if (!want) throw checkFailed(`prevResult has no container interface ${ifname}`);
  if (want.mac && link.address?.toLowerCase() !== want.mac.toLowerCase()) {
    throw checkFailed(`interface ${ifname} has MAC ${link.address ?? 'none'}`, `prevResult says ${want.mac}`);
  }
  if (want.mtu && link.mtu !== want.mtu) throw checkFailed(`interface ${ifname} has MTU ${link.mtu}`, `prevResult says ${want.mtu}`);
  if (!link.up) throw checkFailed(`interface ${ifname} is down`);
  const have = new Set(h.addrList({ link: link.index }).map((a) => canon(a.address)));
  for (const ip of prev.ips ?? []) {
    if (ip.interface !== undefined && ip.interface !== idx) continue;
    if (!have.has(canon(ip.address))) {
      throw checkFailed(`address ${ip.address} missing on ${ifname}`, `it has ${[...have].join(', ') || 'no addresses'}`);
    }
  }
  for (const r of prev.routes ?? []) {
    const fam = famOf(r.dst);
    const list = h.routeList({ family: fam, ...(r.table !== undefined ? { table: r.table } : {}) });
    const dst = canon(r.dst);
    const found = list.some((x) => canon(x.dst) === dst && (r.gw === undefined || (x.gateway !== undefined && canon(x.gateway) === canon(r.gw))));
    if (!found) throw checkFailed(`route ${r.dst}${r.gw ? ` via ${r.gw}` : ''} missing in the container`);
  }
}
