/**
 * Shared CNI types: the network configuration a runtime hands a plugin, the
 * result a plugin prints, and {@link CniError} (the spec's error JSON).
 * @module
 */

/** The CNI spec versions this implementation speaks, oldest first. */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

/** One of {@link SUPPORTED_VERSIONS}. */
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];

/** The newest spec version implemented; used for VERSION output and version-less errors. */
export const CURRENT_VERSION: CniVersion = '1.1.0';

/** The operations a runtime may ask of a plugin (CNI_COMMAND). */
export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'VERSION' | 'GC';

/** Well-known error codes of the spec; 100 and above are plugin-specific. */
export const CniErrorCode = {
  /** Incompatible CNI version. */
  IncompatibleVersion: 1,
  /** Unsupported field in network configuration (message names key and value). */
  UnsupportedField: 2,
  /** Container unknown or does not exist. */
  UnknownContainer: 3,
  /** Invalid necessary environment variables, e.g. CNI_COMMAND, CNI_CONTAINERID. */
  InvalidEnvironment: 4,
  /** I/O failure, e.g. failed to read the network config bytes from stdin. */
  IoFailure: 5,
  /** Failed to decode content, e.g. JSON that does not parse. */
  DecodingFailure: 6,
  /** Invalid network config: it parses but some value is wrong. */
  InvalidNetworkConfig: 7,
  /** Try again later: a transient condition. */
  TryAgainLater: 11,
  /** STATUS: the plugin is not available (cannot service ADD). */
  PluginNotAvailable: 50,
  /** STATUS: not available, and existing containers may have limited connectivity. */
  PluginNotAvailableLimitedConnectivity: 51,
} as const;

/** An error in the spec's shape: printed as `{cniVersion, code, msg, details}` on stdout, non-zero exit. */
export class CniError extends Error {
  override readonly name = 'CniError';
  /** The spec's numeric code (see {@link CniErrorCode}); 100+ for plugin-specific errors. */
  readonly code: number;
  /** The short message (the spec's `msg`). */
  readonly msg: string;
  /** The longer explanation (the spec's `details`), when there is one. */
  readonly details: string | undefined;

  /** @param code numeric error code @param msg short message @param details optional long message */
  constructor(code: number, msg: string, details?: string) {
    super(details ? `${msg}: ${details}` : msg);
    this.code = code;
    this.msg = msg;
    this.details = details;
  }

  /** The error as the spec's JSON object, tagged with `cniVersion`. */
  toJSON(cniVersion: string = CURRENT_VERSION): CniErrorJson {
    return { cniVersion, code: this.code, msg: this.msg, ...(this.details ? { details: this.details } : {}) };
  }
}

/** The spec's error object. */
export interface CniErrorJson {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/** An interface in a result (1.1.0 adds mtu, socketPath, pciID). */
export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  /** The netns path for container interfaces; omitted for host interfaces. */
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

/** An address in a result. */
export interface CniIpConfig {
  /** Address with prefix, e.g. `10.1.0.5/24`. */
  address: string;
  gateway?: string;
  /** Index into `interfaces`; IPAM plugins leave it out. */
  interface?: number;
}

/** A route in a result (1.1.0 adds mtu, advmss, priority, table, scope). */
export interface CniRoute {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

/** DNS information. */
export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/**
 * A result in its newest (1.1.0) shape; {@link convertResult} turns it into the
 * shape of the config's cniVersion when printed.
 */
export interface CniResult {
  cniVersion?: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: CniRoute[];
  dns?: CniDns;
}

/** The `ipam` section of a network config; its fields beyond `type` belong to the IPAM plugin. */
export interface IpamSection {
  type: string;
  [key: string]: unknown;
}

/** A network configuration as a plugin receives it on stdin. */
export interface NetConf {
  cniVersion: CniVersion;
  name: string;
  type: string;
  args?: Record<string, unknown>;
  ipMasq?: boolean;
  ipam?: IpamSection;
  dns?: CniDns;
  capabilities?: Record<string, boolean>;
  runtimeConfig?: Record<string, unknown>;
  /** The previous plugin's result (chained ADD, CHECK, DEL), converted to the 1.1.0 shape. */
  prevResult?: CniResult;
  /** Plugin-specific fields. */
  [key: string]: unknown;
}

/** A (container, interface) pair GC must keep. */
export interface CniAttachment {
  containerID: string;
  ifname: string;
}

/** The CNI_* environment, parsed. */
export interface CniEnv {
  command: CniCommand;
  /** CNI_CONTAINERID ('' when not given, as for VERSION/STATUS/GC). */
  containerId: string;
  /** CNI_NETNS ('' when not given; DEL may come without it). */
  netns: string;
  /** CNI_IFNAME ('' when not given). */
  ifname: string;
  /** CNI_ARGS as pairs, in order. */
  args: Array<[string, string]>;
  /** CNI_ARGS verbatim. */
  rawArgs: string;
  /** CNI_PATH split on ':'. */
  path: string[];
}
