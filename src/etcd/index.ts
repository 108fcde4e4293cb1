/**
 * A dependency-free etcd v3 client over etcd's JSON gateway: see
 * {@link EtcdClient}.
 * @module
 */
export { Backoff } from './backoff.js';
export {
  type Compare, type CompareOp, type EtcdClientOptions, type EtcdTlsOptions, type KeyValue, type TxnOp, type TxnOpResult, type TxnResult,
  type Watch, type WatchEvent, type WatchOptions, EtcdClient, compare, op, parseEndpoint,
} from './client.js';
export { type EtcdErrorDetail, EtcdAuthError, EtcdCompactedError, EtcdError, EtcdTlsError, EtcdUnavailableError } from './errors.js';
