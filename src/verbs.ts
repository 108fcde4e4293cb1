/**
 * The verbs, written once: {@link Handle} runs them synchronously,
 * {@link AsyncHandle} on the threadpool, {@link Batch} records them for one
 * pipelined send.
 * @module
 */
import { type Link, type LinkFilter, type LinkRef, type LinkSpec, type LinkUpdate, linkFilterArg, linkLabel, linkRefArg, linkSpecArg, linkUpdateArg } from './link.js';
import type { NsRef } from './netns.js';
import { type Request, request } from './request.js';
import * as v from './validate.js';

/** How a verb's result arrives: a value, a Promise, or (in a batch) later, in the batch's results. */
export type Mode = 'sync' | 'async' | 'batch';
/** The return type of a verb in mode M. */
export type Out<M extends Mode, T> = M extends 'sync' ? T : M extends 'async' ? Promise<T> : void;

/** Object+Verb operations, Go netlink style. Each is one request to the kernel: none hides a second round trip. */
export abstract class Verbs<M extends Mode> {
  /** @internal */
  protected abstract run<T>(req: Request<T>): Out<M, T>;

  /** Creates a link (`ip link add`). Fails with EEXIST if the name is taken. */
  linkAdd(spec: LinkSpec): Out<M, void> {
    return this.run(request<void>('linkAdd', linkSpecArg(spec), spec?.name ?? ''));
  }

  /** Deletes a link (`ip link del`); deleting one end of a veth deletes both. */
  linkDel(ref: LinkRef): Out<M, void> {
    return this.run(request<void>('linkDel', linkRefArg(ref), linkLabel(ref)));
  }

  /** Deletes every link in an interface group at once (`ip link del group N`): far cheaper than one by one. */
  linkDelGroup(group: number): Out<M, void> {
    return this.run(request<void>('linkDel', { linkGroup: v.uint('group', group, 0xffffffff, 1) }, `group ${group}`));
  }

  /** Reads one link (`ip link show dev X`); throws ENODEV if there is none. */
  linkGet(ref: LinkRef): Out<M, Link> {
    return this.run(request<Link>('linkGet', linkRefArg(ref), linkLabel(ref)));
  }

  /** Lists links; filters are applied by the kernel. */
  linkList(filter?: LinkFilter): Out<M, Link[]> {
    return this.run(request<Link[]>('linkList', linkFilterArg(filter), ''));
  }

  /** Changes a link in one request: any of up, mtu, name, address, master, txqlen, alias, group, namespace. */
  linkSet(ref: LinkRef, update: LinkUpdate): Out<M, void> {
    return this.run(request<void>('linkSet', linkUpdateArg(ref, update), linkLabel(ref)));
  }

  /** `ip link set X up`. */
  linkSetUp(ref: LinkRef): Out<M, void> {
    return this.linkSet(ref, { up: true });
  }

  /** `ip link set X down`. */
  linkSetDown(ref: LinkRef): Out<M, void> {
    return this.linkSet(ref, { up: false });
  }

  /** `ip link set X master M` (M as ifindex). */
  linkSetMaster(ref: LinkRef, master: number): Out<M, void> {
    return this.linkSet(ref, { master });
  }

  /** `ip link set X nomaster`. */
  linkSetNoMaster(ref: LinkRef): Out<M, void> {
    return this.linkSet(ref, { master: null });
  }

  /** `ip link set X netns NS`: moves the link into another namespace. */
  linkSetNs(ref: LinkRef, ns: NsRef): Out<M, void> {
    return this.linkSet(ref, { netns: ns });
  }

  // ---- addresses: verbs go below this line (types and validation in src/addr.ts) ----


  // ---- routes: verbs go below this line (types and validation in src/route.ts) ----


  // ---- neighbours: verbs go below this line (types and validation in src/neigh.ts) ----


  // ---- bridge FDB: verbs go below this line (types and validation in src/fdb.ts) ----


  // ---- end of verbs ----
}
