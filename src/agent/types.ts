/**
 * The node agent's shared vocabulary: what a node publishes about itself,
 * the overlay's cluster-wide settings, and the contract between a membership
 * source (etcd or a static file) and the overlay that is kept in sync with it.
 * @module
 */

/** What one node publishes: enough for every other node to reach its pods. */
export interface NodeRecord {
  /** Node name, unique in the cluster (the agent's `--node-name`). */
  name: string;
  /** The node's underlay address (IPv4 or IPv6): where packets for its pods are sent (VXLAN: encapsulated; host-gw: routed). */
  underlay: string;
  /** MAC address of the node's VXLAN device (its VTEP); the VXLAN backend's records carry one, host-gw's none. */
  vtepMac?: string;
  /** The node's pod subnet, a CIDR leased from {@link NetworkConfig.network}, e.g. `10.244.3.0/24`. */
  subnet: string;
}

/** The overlay's cluster-wide settings; stored once in etcd (or in the static file) and read by every agent. */
export interface NetworkConfig {
  /** The cluster CIDR that node subnets are carved from, e.g. `10.244.0.0/16`. */
  network: string;
  /** Prefix length of each node's subnet, e.g. 24. */
  subnetLen: number;
  /** VXLAN network identifier. Default 1. */
  vni?: number;
  /** VXLAN UDP destination port. Default 4789. */
  port?: number;
  /** Pod-facing MTU; default: the underlay device's MTU minus the encapsulation (50 bytes over IPv4, 70 over IPv6). */
  mtu?: number;
}

/** A record as a membership source holds it: where it is (the etcd key, or the static file's entry) and what it says. */
export interface Candidate {
  key: string;
  record: NodeRecord;
}

/** A record the agent does not use, and why. */
export interface RejectedRecord {
  /** The etcd key (or the static file's entry). */
  key: string;
  /** The node name it gives, if it could be read. */
  name?: string;
  /** Why it is not used, naming the offending field and value. */
  reason: string;
}

/** What a membership source holds: the readable records in precedence order (on a conflict the earlier wins), and those it could not read. */
export interface Members {
  /** etcd: by creation revision (the oldest claim first); a static file: in file order. */
  records: Candidate[];
  /** Records that do not parse, or whose key does not match their subnet. */
  malformed: RejectedRecord[];
}

/** A source of cluster membership: delivers the full set of live nodes whenever it changes. */
export interface Membership {
  /**
   * Starts delivering. `onPeers` receives the complete live set (this node
   * included) after the initial list and after every change or resync; it
   * is never called concurrently with itself.
   */
  start(onPeers: (members: Members) => void | Promise<void>): Promise<void>;
  /** Stops delivering and releases what start() holds (watches, timers). */
  stop(): Promise<void>;
}
