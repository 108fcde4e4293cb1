/**
 * Errors raised by {@link EtcdClient}: {@link EtcdError} for anything etcd
 * refused, {@link EtcdUnavailableError} when no endpoint could be reached,
 * {@link EtcdCompactedError} when a watch asked for history etcd has dropped,
 * {@link EtcdTlsError} and {@link EtcdAuthError} when etcd refuses the
 * client's identity (retrying cannot help: the configuration must change).
 * @module
 */

/** What an {@link EtcdError} concerns: where it was sent and what came back. */
export interface EtcdErrorDetail {
  /** The endpoint that answered (or the last one tried), e.g. `http://127.0.0.1:2379`. */
  endpoint?: string;
  /** The gateway path, e.g. `/v3/kv/txn`. */
  path?: string;
  /** The HTTP status, when a response arrived. */
  status?: number;
  /** The gRPC status code etcd gave (e.g. 5 NotFound, 9 FailedPrecondition, 14 Unavailable). */
  code?: number;
  /** etcd's own message, e.g. `etcdserver: requested lease not found`. */
  etcdMessage?: string;
}

/** A request etcd answered with an error (or with something that is not the gateway's JSON). */
export class EtcdError extends Error {
  override name = 'EtcdError';
  /** The endpoint that answered (or the last one tried). */
  readonly endpoint: string | undefined;
  /** The gateway path, e.g. `/v3/kv/txn`. */
  readonly path: string | undefined;
  /** The HTTP status, when a response arrived. */
  readonly status: number | undefined;
  /** The gRPC status code etcd gave. */
  readonly code: number | undefined;
  /** etcd's own message. */
  readonly etcdMessage: string | undefined;

  /** @param message what failed @param d where, and what etcd said */
  constructor(message: string, d: EtcdErrorDetail = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.endpoint = d.endpoint;
    this.path = d.path;
    this.status = d.status;
    this.code = d.code;
    this.etcdMessage = d.etcdMessage;
  }
}

/** No endpoint answered: connection refused or reset, a timeout, or etcd reporting itself unavailable (no leader). */
export class EtcdUnavailableError extends EtcdError {
  override name = 'EtcdUnavailableError';
}

/** A watch started at a revision etcd has compacted away: re-list, then watch from the listing's revision. */
export class EtcdCompactedError extends EtcdError {
  override name = 'EtcdCompactedError';
  /** The oldest revision etcd still has. */
  readonly compactRevision: number;

  /** @param message what failed @param compactRevision the oldest revision still available @param d where */
  constructor(message: string, compactRevision: number, d: EtcdErrorDetail = {}) {
    super(message, d);
    this.compactRevision = compactRevision;
  }
}

/** The TLS handshake failed: etcd's certificate is not signed by the CA given, names another host, has expired, or etcd refused the client certificate. */
export class EtcdTlsError extends EtcdError {
  override name = 'EtcdTlsError';
}

/** etcd refused the credentials (wrong user or password, no user given while auth is on) or the user lacks a permission. */
export class EtcdAuthError extends EtcdError {
  override name = 'EtcdAuthError';
}
