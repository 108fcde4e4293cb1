/**
 * A small etcd v3 client over etcd's JSON gRPC gateway (`/v3/...` on the
 * client port), with node:http(s) keep-alive connections and no
 * dependencies: key-value reads and writes, transactions, leases and
 * streaming watches, over TLS with client certificates and with etcd's
 * user/password authentication. Requests fail over between endpoints; keys
 * and values are UTF-8 strings (base64 on the wire); int64s that are ids
 * (leases) stay decimal strings, revisions and counts become numbers.
 * @module
 */
import { once } from 'node:events';
import * as http from 'node:http';
import * as https from 'node:https';
import { EtcdAuthError, EtcdCompactedError, EtcdError, EtcdTlsError, EtcdUnavailableError } from './errors.js';

/** One key as etcd stores it. */
export interface KeyValue {
  /** The key (UTF-8). */
  key: string;
  /** The value (UTF-8); empty in a delete event. */
  value: string;
  /** Revision of the key's creation (since its last deletion). */
  createRevision: number;
  /** Revision of the key's last modification. */
  modRevision: number;
  /** Number of writes since creation. */
  version: number;
  /** The lease the key is attached to, as a decimal string; absent when none. */
  lease?: string;
}

/** TLS material for `https://` endpoints, as PEM text. */
export interface EtcdTlsOptions {
  /** The CA that signed etcd's certificates; default: the system's CAs. */
  ca?: string | Buffer;
  /** A client certificate, for an etcd that requires one (`--client-cert-auth`); needs `key`. */
  cert?: string | Buffer;
  /** The client certificate's private key. */
  key?: string | Buffer;
}

/** What {@link EtcdClient} connects to. */
export interface EtcdClientOptions {
  /** Client URLs, e.g. `https://10.0.0.5:2379` (checked by {@link parseEndpoint}); tried in order, starting from the last one that answered. */
  endpoints: string[];
  /** Deadline of one request on one endpoint, in ms (default 5000). */
  timeoutMs?: number;
  /** Certificates for `https://` endpoints (server verification is always on). */
  tls?: EtcdTlsOptions;
  /** etcd user and password: the client authenticates, sends the token with every request, and authenticates again when etcd says the token is invalid (expired). */
  auth?: { username: string; password: string };
  /**
   * How often a watch checks that the member streaming it still answers, in
   * ms (default 10000). A frozen member keeps a stream open and silent; when
   * it does not answer a read within `timeoutMs`, the watch ends with
   * {@link EtcdUnavailableError} and the caller watches again elsewhere.
   */
  watchProbeMs?: number;
  /** Called with every {@link EtcdTlsError} and {@link EtcdAuthError} the client throws or reports: etcd refused this client's identity, and retrying cannot help. */
  onRefused?(e: EtcdTlsError | EtcdAuthError): void;
}

/**
 * Checks an etcd client URL (`http://` or `https://`, a host, an optional
 * port, no path, query or user) and returns it in canonical form; throws
 * {@link EtcdError} naming it. The client and rtnl-agent's command line
 * both use it.
 */
export function parseEndpoint(s: string): string {
  let u: URL | undefined;
  try {
    u = new URL(s);
  } catch { /* reported below */ }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname || u.username || u.password || u.pathname !== '/' || u.search || u.hash) {
    throw new EtcdError(`${JSON.stringify(s)} is not an etcd endpoint like https://127.0.0.1:2379 (http or https, a host and a port, no path)`);
  }
  return `${u.protocol}//${u.host}`;
}

/** A comparison operator of a transaction's condition. */
export type CompareOp = '==' | '!=' | '<' | '>';

/** One condition of a transaction; build it with {@link compare}. */
export interface Compare {
  /** The key compared. */
  key: string;
  /** What of the key is compared: creation or modification revision, version, value, or lease. */
  target: 'CREATE' | 'MOD' | 'VERSION' | 'VALUE' | 'LEASE';
  /** How the key's attribute compares to the operand. */
  op: CompareOp;
  /** A revision or version (number), a value (string) or a lease id (decimal string). */
  operand: number | string;
}

/**
 * Builders of transaction conditions. `compare.createRevision(k, '==', 0)`
 * holds when k does not exist (create-if-absent); `compare.modRevision(k,
 * '==', r)` when nobody wrote k since revision r (compare-and-swap).
 */
export const compare = {
  /** Compares the key's creation revision (0 when absent). */
  createRevision: (key: string, op: CompareOp, revision: number): Compare => ({ key, target: 'CREATE', op, operand: revision }),
  /** Compares the key's last modification revision (0 when absent). */
  modRevision: (key: string, op: CompareOp, revision: number): Compare => ({ key, target: 'MOD', op, operand: revision }),
  /** Compares the key's version (0 when absent). */
  version: (key: string, op: CompareOp, version: number): Compare => ({ key, target: 'VERSION', op, operand: version }),
  /** Compares the key's value. */
  value: (key: string, op: CompareOp, value: string): Compare => ({ key, target: 'VALUE', op, operand: value }),
  /** Compares the key's lease id ("0" when it has none). */
  lease: (key: string, op: CompareOp, lease: string): Compare => ({ key, target: 'LEASE', op, operand: lease }),
};

/** One operation of a transaction branch; build it with {@link op}. */
export type TxnOp =
  | { type: 'get'; key: string; prefix: boolean }
  | { type: 'put'; key: string; value: string; lease?: string }
  | { type: 'delete'; key: string; prefix: boolean };

/** Builders of transaction operations. */
export const op = {
  /** Reads a key, or every key under it with `{ prefix: true }`. */
  get: (key: string, o: { prefix?: boolean } = {}): TxnOp => ({ type: 'get', key, prefix: o.prefix ?? false }),
  /** Writes a key, attached to a lease if given. */
  put: (key: string, value: string, o: { lease?: string } = {}): TxnOp => ({ type: 'put', key, value, ...(o.lease ? { lease: o.lease } : {}) }),
  /** Deletes a key, or every key under it with `{ prefix: true }`. */
  delete: (key: string, o: { prefix?: boolean } = {}): TxnOp => ({ type: 'delete', key, prefix: o.prefix ?? false }),
};

/** The result of one operation of the branch a transaction ran, in order. */
export type TxnOpResult = { type: 'get'; kvs: KeyValue[] } | { type: 'put' } | { type: 'delete'; deleted: number };

/** A transaction's outcome: which branch ran, and its operations' results. */
export interface TxnResult {
  /** Whether every condition held (the success branch ran). */
  succeeded: boolean;
  /** The store's revision after the transaction (the mod revision of what it wrote, if it wrote). */
  revision: number;
  results: TxnOpResult[];
}

/** One change seen by a watch. */
export interface WatchEvent {
  /** A write or a deletion (by request or by lease expiry). */
  type: 'put' | 'delete';
  /** The key after a put; after a delete, the key with an empty value and the deletion's modRevision. */
  kv: KeyValue;
}

/** What a watch reports to. */
export interface WatchOptions {
  /** First revision to report (default: changes after the watch is created). */
  startRevision?: number;
  /** Changes, in revision order, with the store revision they bring the watcher to. */
  onEvents(events: WatchEvent[], revision: number): void;
  /**
   * The watch ended: {@link EtcdCompactedError} when startRevision is
   * compacted, {@link EtcdUnavailableError} when the stream broke or no
   * endpoint answered. Called at most once, never after cancel(); the
   * caller decides whether and how to re-list and watch again.
   */
  onError(e: EtcdError): void;
}

/** A running watch. */
export interface Watch {
  /** Ends the watch; no callback runs afterwards. */
  cancel(): void;
}

// The gateway's JSON: int64s as strings, default values omitted.
interface RawKv { key?: string; value?: string; create_revision?: string; mod_revision?: string; version?: string; lease?: string }
interface RawHeader { revision?: string }

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string => Buffer.from(s ?? '', 'base64').toString('utf8');

/** An int64 string as a number; revisions and counts stay far below 2^53 in any real cluster. */
function num(s: string | number | undefined): number {
  const n = Number(s ?? 0);
  if (!Number.isSafeInteger(n)) throw new EtcdError(`etcd returned ${String(s)}, not an integer below 2^53`);
  return n;
}

function kvOf(r: RawKv): KeyValue {
  const kv: KeyValue = {
    key: unb64(r.key), value: unb64(r.value),
    createRevision: num(r.create_revision), modRevision: num(r.mod_revision), version: num(r.version),
  };
  if (r.lease && r.lease !== '0') kv.lease = r.lease;
  return kv;
}

/** The end of the range of keys starting with `prefix`: the prefix with its last byte below 0xff incremented. */
function prefixEnd(prefix: string): string {
  const b = Buffer.from(prefix, 'utf8');
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const end = b.subarray(0, i + 1);
      end[i]! += 1;
      return end.toString('base64');
    }
  }
  return Buffer.from([0]).toString('base64'); // every key
}

const range = (key: string, prefix: boolean) => ({ key: b64(key), ...(prefix ? { range_end: prefixEnd(key) } : {}) });

const GRPC_INVALID_ARGUMENT = 3;
const GRPC_PERMISSION_DENIED = 7;
const GRPC_UNAVAILABLE = 14;
const GRPC_UNAUTHENTICATED = 16;

/** The class of an error etcd returned: unavailable (try another member), refused credentials, or any other refusal. */
function errorClass(code: number | undefined, message: string): typeof EtcdError {
  if (code === GRPC_UNAVAILABLE) return EtcdUnavailableError;
  if (code === GRPC_PERMISSION_DENIED || code === GRPC_UNAUTHENTICATED) return EtcdAuthError;
  // etcd says InvalidArgument for a failed authentication and for a request without a user while auth is on.
  if (code === GRPC_INVALID_ARGUMENT && /authentication failed|user name is empty|invalid user/.test(message)) return EtcdAuthError;
  return EtcdError;
}

/** Whether etcd refused a token it no longer knows (expired, or issued by a member that restarted): authenticate again. */
const staleToken = (e: unknown): boolean => e instanceof EtcdAuthError && e.code === GRPC_UNAUTHENTICATED;

/** Whether a connection error is the TLS handshake failing (certificate verification either way), not the network. */
function tlsFailure(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  return /CERT|SIGNATURE|ISSUER|^ERR_SSL_|^ERR_TLS_|^HOSTNAME_MISMATCH/.test(code);
}

const CMP_RESULT = { '==': 'EQUAL', '!=': 'NOT_EQUAL', '<': 'LESS', '>': 'GREATER' } as const;
const CMP_FIELD = { CREATE: 'create_revision', MOD: 'mod_revision', VERSION: 'version', VALUE: 'value', LEASE: 'lease' } as const;

function rawCompare(c: Compare): object {
  const operand = c.target === 'VALUE' ? b64(String(c.operand)) : String(c.operand);
  return { key: b64(c.key), target: c.target, result: CMP_RESULT[c.op], [CMP_FIELD[c.target]]: operand };
}

function rawOp(o: TxnOp): object {
  switch (o.type) {
    case 'get': return { request_range: range(o.key, o.prefix) };
    case 'put': return { request_put: { key: b64(o.key), value: b64(o.value), ...(o.lease ? { lease: o.lease } : {}) } };
    case 'delete': return { request_delete_range: range(o.key, o.prefix) };
  }
}

function opResult(r: { response_range?: { kvs?: RawKv[] }; response_put?: object; response_delete_range?: { deleted?: string } }): TxnOpResult {
  if (r.response_range) return { type: 'get', kvs: (r.response_range.kvs ?? []).map(kvOf) };
  if (r.response_delete_range) return { type: 'delete', deleted: num(r.response_delete_range.deleted) };
  return { type: 'put' };
}

/** An error etcd put in a gateway reply: `{error, code, message}` (unary) or `{error: {grpc_code, message}}` (streams). */
function replyError(j: { error?: unknown; code?: number; message?: string }): { code: number | undefined; message: string } | undefined {
  if (j.error === undefined || j.error === '') return undefined;
  if (typeof j.error === 'object' && j.error !== null) {
    const e = j.error as { grpc_code?: number; message?: string };
    return { code: e.grpc_code, message: e.message ?? JSON.stringify(e) };
  }
  return { code: j.code, message: j.message ?? String(j.error) };
}

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE']);

/**
 * An etcd v3 client over the JSON gateway. Every request goes to the
 * endpoint that last answered; when it cannot be reached (or says it is
 * unavailable) the next one is tried, and {@link EtcdUnavailableError} is
 * thrown when none answers. Errors etcd itself returns are {@link EtcdError}s.
 */
export class EtcdClient {
  readonly #endpoints: string[];
  readonly #timeoutMs: number;
  readonly #probeMs: number;
  readonly #http = new http.Agent({ keepAlive: true });
  readonly #https: https.Agent;
  readonly #auth: { username: string; password: string } | undefined;
  readonly #onRefused: (e: EtcdTlsError | EtcdAuthError) => void;
  readonly #watches = new Set<Watch>();
  /** The auth token, or the authentication that will give it. */
  #token: Promise<string> | undefined;
  #current = 0;
  #closed = false;

  /** @param o endpoints, TLS material, credentials and deadlines */
  constructor(o: EtcdClientOptions) {
    if (o.endpoints.length === 0) throw new EtcdError('EtcdClient: no endpoints');
    this.#endpoints = o.endpoints.map(parseEndpoint);
    if (o.tls?.cert !== undefined && o.tls.key === undefined) throw new EtcdError('EtcdClient: a client certificate needs its key');
    this.#https = new https.Agent({ keepAlive: true, ...o.tls });
    this.#timeoutMs = o.timeoutMs ?? 5000;
    this.#probeMs = o.watchProbeMs ?? 10_000;
    this.#auth = o.auth;
    this.#onRefused = o.onRefused ?? (() => {});
  }

  /** Reads one key; undefined when absent. */
  async get(key: string): Promise<KeyValue | undefined> {
    const r = await this.#call<{ kvs?: RawKv[] }>('/v3/kv/range', range(key, false));
    return r.kvs?.[0] && kvOf(r.kvs[0]);
  }

  /** Reads every key starting with `prefix`, in key order, and the store revision they were read at. */
  async list(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    const r = await this.#call<{ kvs?: RawKv[]; header?: RawHeader }>('/v3/kv/range', range(prefix, true));
    return { kvs: (r.kvs ?? []).map(kvOf), revision: num(r.header?.revision) };
  }

  /** Writes a key (attached to `lease` if given); returns the revision of the write. */
  async put(key: string, value: string, o: { lease?: string } = {}): Promise<number> {
    const r = await this.#call<{ header?: RawHeader }>('/v3/kv/put', { key: b64(key), value: b64(value), ...(o.lease ? { lease: o.lease } : {}) });
    return num(r.header?.revision);
  }

  /** Deletes a key; returns how many keys were deleted (0 or 1). */
  async delete(key: string): Promise<number> {
    const r = await this.#call<{ deleted?: string }>('/v3/kv/deleterange', range(key, false));
    return num(r.deleted);
  }

  /** Deletes every key starting with `prefix`; returns how many. */
  async deletePrefix(prefix: string): Promise<number> {
    const r = await this.#call<{ deleted?: string }>('/v3/kv/deleterange', range(prefix, true));
    return num(r.deleted);
  }

  /**
   * Runs `success` if every condition in `compare` holds, else `failure`,
   * atomically. E.g. create-if-absent:
   * `txn({ compare: [compare.createRevision(k, '==', 0)], success: [op.put(k, v)], failure: [op.get(k)] })`.
   */
  async txn(t: { compare: Compare[]; success?: TxnOp[]; failure?: TxnOp[] }): Promise<TxnResult> {
    const r = await this.#call<{ succeeded?: boolean; header?: RawHeader; responses?: object[] }>('/v3/kv/txn', {
      compare: t.compare.map(rawCompare), success: (t.success ?? []).map(rawOp), failure: (t.failure ?? []).map(rawOp),
    });
    return { succeeded: r.succeeded === true, revision: num(r.header?.revision), results: (r.responses ?? []).map(opResult) };
  }

  /** Grants a lease of `ttlSec` seconds (etcd may raise a very short TTL to its minimum). */
  async leaseGrant(ttlSec: number): Promise<{ id: string; ttl: number }> {
    const r = await this.#call<{ ID?: string; TTL?: string; error?: string }>('/v3/lease/grant', { TTL: ttlSec });
    if (!r.ID) throw new EtcdError(`lease grant failed: ${r.error || 'no lease id in the reply'}`, { path: '/v3/lease/grant' });
    return { id: r.ID, ttl: num(r.TTL) };
  }

  /** Renews a lease once; returns its TTL in seconds, 0 when the lease no longer exists (expired or revoked). */
  async leaseKeepAlive(id: string): Promise<number> {
    const r = await this.#call<{ TTL?: string }>('/v3/lease/keepalive', { ID: id });
    return Math.max(0, num(r.TTL));
  }

  /** Revokes a lease, deleting every key attached to it; false when it did not exist. */
  async leaseRevoke(id: string): Promise<boolean> {
    try {
      await this.#call('/v3/lease/revoke', { ID: id });
      return true;
    } catch (e) {
      if (e instanceof EtcdError && e.code === 5) return false; // NotFound: expired or revoked already
      throw e;
    }
  }

  /** A lease's remaining and granted TTL and its keys; undefined when it no longer exists. */
  async leaseTimeToLive(id: string): Promise<{ ttl: number; grantedTtl: number; keys: string[] } | undefined> {
    const r = await this.#call<{ TTL?: string; grantedTTL?: string; keys?: string[] }>('/v3/lease/timetolive', { ID: id, keys: true });
    const ttl = num(r.TTL);
    return ttl < 0 ? undefined : { ttl, grantedTtl: num(r.grantedTTL), keys: (r.keys ?? []).map(unb64) };
  }

  /**
   * Watches every key starting with `prefix` from `o.startRevision`,
   * over one streaming request. A broken stream is reported once through
   * `o.onError`; reconnecting (re-list, then watch again) is the caller's.
   */
  watch(prefix: string, o: WatchOptions): Watch {
    let req: http.ClientRequest | undefined;
    let done = false;
    const end = () => {
      done = true;
      clearInterval(probe);
      req?.destroy();
      this.#watches.delete(w);
    };
    const w: Watch = { cancel: () => { if (!done) end(); } };
    const fail = (e: EtcdError) => {
      if (done) return;
      end();
      o.onError(e);
    };
    const path = '/v3/watch';
    const body = JSON.stringify({ create_request: { ...range(prefix, true), ...(o.startRevision ? { start_revision: String(o.startRevision) } : {}) } });
    const message = (endpoint: string, line: string) => {
      let m: { result?: { header?: RawHeader; events?: { type?: string; kv: RawKv }[]; canceled?: boolean; compact_revision?: string; cancel_reason?: string }; error?: unknown };
      try {
        m = JSON.parse(line);
      } catch {
        return fail(new EtcdError(`watch on ${endpoint}: not JSON: ${line.slice(0, 200)}`, { endpoint, path }));
      }
      const err = replyError(m);
      if (err) {
        const e = new (errorClass(err.code, err.message))(`watch on ${endpoint}: ${err.message}`, { endpoint, path, code: err.code, etcdMessage: err.message });
        if (staleToken(e)) this.#token = undefined; // the caller's next request (a re-list) authenticates again
        return fail(e instanceof EtcdAuthError && !staleToken(e) ? this.#refused(e) : e);
      }
      const r = m.result ?? {};
      if (r.canceled) {
        const compacted = num(r.compact_revision);
        return fail(compacted > 0
          ? new EtcdCompactedError(`watch on ${endpoint}: revision ${o.startRevision} is compacted (oldest kept: ${compacted})`, compacted, { endpoint, path })
          : new EtcdError(`watch on ${endpoint} canceled by etcd: ${r.cancel_reason ?? 'no reason given'}`, { endpoint, path }));
      }
      if (r.events?.length) {
        o.onEvents(r.events.map((e) => ({ type: e.type === 'DELETE' ? 'delete' : 'put', kv: kvOf(e.kv) })), num(r.header?.revision));
      }
    };
    let probe: NodeJS.Timeout | undefined;
    const connect = async (n: number, lastError?: Error) => {
      if (done) return;
      if (this.#closed) return fail(new EtcdError('EtcdClient is closed'));
      if (n === this.#endpoints.length) {
        if (lastError instanceof EtcdTlsError) return fail(this.#refused(lastError));
        return fail(new EtcdUnavailableError(`watch: no etcd endpoint answered (${this.#endpoints.join(', ')}): ${lastError?.message}`, { path }));
      }
      const i = (this.#current + n) % this.#endpoints.length;
      const endpoint = this.#endpoints[i]!;
      let token: string | undefined;
      try {
        token = await this.#tokenFor(endpoint);
      } catch (e) {
        if (e instanceof EtcdAuthError) return fail(this.#refused(e));
        return connect(n + 1, e as Error);
      }
      if (done) return;
      const r = this.#request(endpoint + path, token);
      req = r;
      // Only the stream's opening is bounded: then it may stay quiet for hours.
      const opening = setTimeout(() => r.destroy(new Error(`no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
      let responded = false;
      r.on('error', (e) => {
        clearTimeout(opening);
        // After the response, its 'close' reports the break.
        if (!responded) void connect(n + 1, tlsFailure(e) ? new EtcdTlsError(`watch on ${endpoint}: TLS: ${e.message}`, { endpoint, path }) : e);
      });
      r.on('response', (res) => {
        responded = true;
        clearTimeout(opening);
        this.#current = i;
        // A frozen member keeps the stream open and silent: check that it still answers a (linearizable) read.
        const count = JSON.stringify({ ...range(prefix, true), count_only: true });
        let probing = false;
        probe = setInterval(() => {
          if (probing) return;
          probing = true;
          this.#attempt(endpoint, '/v3/kv/range', count).then(() => { probing = false; }, (e: unknown) => {
            probing = false;
            if (e instanceof EtcdUnavailableError) fail(new EtcdUnavailableError(`watch on ${endpoint}: the member did not answer a read (${e.message})`, { endpoint, path }));
          });
        }, this.#probeMs);
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          for (let nl = buf.indexOf('\n'); nl >= 0 && !done; nl = buf.indexOf('\n')) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line) message(endpoint, res.statusCode === 200 ? line : JSON.stringify({ error: { message: `HTTP ${res.statusCode}: ${line}` } }));
          }
        });
        res.on('error', () => { /* reported by 'close' */ });
        res.on('close', () => {
          if (buf.trim() && res.statusCode === 200) message(endpoint, buf); // a last message without its newline (the gateway's closing error)
          fail(new EtcdUnavailableError(`watch on ${endpoint}: stream closed${buf.trim() ? `: ${buf.trim().slice(0, 200)}` : ''}`, { endpoint, path }));
        });
      });
      r.end(body);
    };
    this.#watches.add(w);
    void connect(0);
    return w;
  }

  /** Cancels every watch and closes every connection; the client cannot be used afterwards. */
  close(): void {
    this.#closed = true;
    for (const w of [...this.#watches]) w.cancel();
    this.#http.destroy();
    this.#https.destroy();
  }

  /** One unary call, failing over between endpoints on connection errors and etcd's Unavailable. */
  async #call<T extends object>(path: string, body: object): Promise<T> {
    if (this.#closed) throw new EtcdError('EtcdClient is closed', { path });
    const data = JSON.stringify(body);
    const errors: string[] = [];
    let tls: EtcdTlsError | undefined;
    for (let n = 0; n < this.#endpoints.length; n++) {
      const i = (this.#current + n) % this.#endpoints.length;
      try {
        const r = await this.#attempt<T>(this.#endpoints[i]!, path, data);
        this.#current = i;
        return r;
      } catch (e) {
        if (e instanceof EtcdAuthError) throw this.#refused(e);
        if (e instanceof EtcdTlsError) tls ??= e; // this member's certificate is wrong: another's may be right
        else if (!(e instanceof EtcdUnavailableError)) throw e;
        errors.push((e as Error).message);
      }
    }
    if (tls) throw this.#refused(tls);
    throw new EtcdUnavailableError(`etcd unavailable: ${errors.join('; ')}`, { path, endpoint: this.#endpoints.at(-1)! });
  }

  /** Reports an identity refusal to `onRefused` and returns it, to be thrown; says so when no user was given. */
  #refused(e: EtcdTlsError | EtcdAuthError): EtcdTlsError | EtcdAuthError {
    const r = e instanceof EtcdAuthError && !this.#auth
      ? new EtcdAuthError(`${e.message} (no etcd user was given, and etcd has authentication on)`, e)
      : e;
    this.#onRefused(r);
    return r;
  }

  /** One request to one endpoint, authenticated when credentials are set; a stale token is replaced once. */
  async #attempt<T>(endpoint: string, path: string, data: string): Promise<T> {
    for (let again = true; ; again = false) {
      const token = await this.#tokenFor(endpoint);
      try {
        return await this.#post<T>(endpoint, path, data, true, token);
      } catch (e) {
        if (!again || !staleToken(e)) throw e;
        if (this.#token && (await this.#token.catch(() => undefined)) === token) this.#token = undefined;
      }
    }
  }

  /** The auth token (authenticating first if there is none yet); undefined without credentials. */
  #tokenFor(endpoint: string): Promise<string | undefined> {
    const auth = this.#auth;
    if (!auth) return Promise.resolve(undefined);
    if (!this.#token) {
      const p = this.#post<{ token?: string }>(endpoint, '/v3/auth/authenticate', JSON.stringify({ name: auth.username, password: auth.password }), true)
        .then((r) => {
          if (!r.token) throw new EtcdAuthError(`${endpoint}: etcd gave no token for user ${JSON.stringify(auth.username)} (is authentication enabled?)`, { endpoint });
          return r.token;
        }, (e: unknown) => {
          if (e instanceof EtcdAuthError) throw new EtcdAuthError(`${endpoint}: authentication as ${JSON.stringify(auth.username)} failed: ${e.etcdMessage ?? e.message}`, { endpoint, path: e.path, code: e.code, etcdMessage: e.etcdMessage });
          throw e;
        });
      this.#token = p;
      p.catch(() => { if (this.#token === p) this.#token = undefined; }); // authenticate again next time
    }
    return this.#token;
  }

  #request(url: string, token: string | undefined, length?: number): http.ClientRequest {
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json', ...(length === undefined ? {} : { 'content-length': length }) };
    if (token !== undefined) headers.authorization = token;
    return url.startsWith('https:')
      ? https.request(url, { method: 'POST', agent: this.#https, headers })
      : http.request(url, { method: 'POST', agent: this.#http, headers });
  }

  async #post<T>(endpoint: string, path: string, data: string, mayRetry: boolean, token?: string): Promise<T> {
    const req = this.#request(endpoint + path, token, Buffer.byteLength(data));
    req.on('error', () => { /* surfaces through once() or the body stream below */ });
    const deadline = setTimeout(() => req.destroy(new Error(`no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
    let status: number | undefined;
    let text = '';
    try {
      req.end(data);
      const [res] = (await once(req, 'response')) as [http.IncomingMessage];
      status = res.statusCode;
      res.setEncoding('utf8');
      for await (const chunk of res) text += chunk;
    } catch (e) {
      // A kept-alive socket the server closed while idle: the request never reached etcd, send it again.
      if (mayRetry && req.reusedSocket && status === undefined && RESET_CODES.has((e as NodeJS.ErrnoException).code ?? '')) {
        return this.#post<T>(endpoint, path, data, false, token);
      }
      if (tlsFailure(e)) throw new EtcdTlsError(`${endpoint}: TLS: ${(e as Error).message}`, { endpoint, path }, { cause: e });
      throw new EtcdUnavailableError(`${endpoint}${path}: ${(e as Error).message}`, { endpoint, path }, { cause: e });
    } finally {
      clearTimeout(deadline);
    }
    let j: { result?: T; error?: unknown; code?: number; message?: string };
    try {
      j = JSON.parse(text);
    } catch {
      if (/CommonName of client/.test(text)) {
        // etcd's gateway (3.4.23 here) refuses client certificates with a CN: it could not use the CN as the user, as gRPC clients do.
        throw new EtcdTlsError(`${endpoint}: etcd refuses client certificates with a CommonName on its gateway: use one without CN (authenticate with a user and password)`, { endpoint, path, status });
      }
      throw new EtcdError(`${endpoint}${path}: HTTP ${status}: ${text.trim().slice(0, 200) || 'empty reply'}`, { endpoint, path, status });
    }
    const err = replyError(j);
    if (err || status !== 200) {
      const message = err?.message ?? `HTTP ${status}`;
      const E = errorClass(err?.code, message);
      throw new E(`${endpoint}${path}: ${message}`, { endpoint, path, status, code: err?.code, etcdMessage: message });
    }
    return (j.result ?? j) as T; // streaming methods (keepalive) wrap their reply in `result`
  }
}
