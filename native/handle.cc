#include "handle.h"

#include <unistd.h>

#include <system_error>

#include "keys.h"
#include "netns.h"
#include "ops.h"

namespace rtnl {

namespace {

// Requests encoded on the main thread, sent (maybe from the threadpool),
// and decoded back on the main thread.
struct Requests {
  MsgWriter w;
  std::vector<Pending> pend;
  std::vector<const Op*> ops;
  std::vector<int> fds;
  // What each request names in errors, read only for a failed one: the
  // batch's labels (NativeBatch in src/native.ts), or the one request's.
  Napi::Reference<Napi::Array> labels;
  std::string single;

  ~Requests() { reset(); }

  // Empty again, keeping the buffers' capacity (the sync path reuses one).
  void reset() {
    for (int fd : fds) ::close(fd);
    fds.clear();
    w.bytes().clear();
    pend.clear();
    ops.clear();
    labels.Reset();
    single.clear();
  }

  void add(Napi::Env env, uint32_t seq, uint32_t i, const Arg& arg) {
    if (i >= opTable().size()) throw Napi::TypeError::New(env, "rtnl: unknown operation");
    const Op& o = opTable()[i];
    Encoder enc{w, seq, fds};
    size_t at = w.bytes().size();
    o.encode(enc, arg);
    Pending p;
    p.offset = at;
    p.len = w.bytes().size() - at;
    p.dump = o.dump;
    p.data = o.data;
    pend.push_back(std::move(p));
    ops.push_back(&o);
  }

  std::string what(size_t i) const {
    if (labels.IsEmpty()) return single;
    Napi::Value v = labels.Value().Get(i);
    return v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  }

  // The decoded result of request i, or its error (returned, not thrown).
  Napi::Value result(Napi::Env env, size_t i, bool& failed) {
    const Reply& r = pend[i].reply;
    failed = r.error != 0;
    if (failed) return makeError(env, r.error, ops[i]->verb ? ops[i]->verb : ops[i]->name, what(i), r.extack, r.extackOffset).Value();
    return ops[i]->decode ? ops[i]->decode(env, r) : env.Undefined();
  }

  // One entry per request; a request that returns nothing (most: an ack)
  // is left a hole, read as undefined: no call per request to store it.
  Napi::Array results(Napi::Env env) {
    Napi::Array out = Napi::Array::New(env, pend.size());
    bool failed;
    for (size_t i = 0; i < pend.size(); i++) {
      if (pend[i].reply.error == 0 && !ops[i]->decode) continue;
      out.Set(i, result(env, i, failed));
    }
    return out;
  }
};

// A call's arguments, read in one napi_get_cb_info (two past 16: Node
// fills every slot asked for that the call does not use).
// Napi::CallbackInfo gives no pointer to them, which a batch's spread
// values need.
struct RawCall {
  napi_value inline_[16];
  std::vector<napi_value> more;
  const napi_value* argv = inline_;
  size_t argc = 16;

  RawCall(napi_env env, napi_callback_info cb) {
    napi_get_cb_info(env, cb, &argc, inline_, nullptr, nullptr);
    if (argc <= 16) return;
    more.resize(argc);
    napi_get_cb_info(env, cb, &argc, more.data(), nullptr, nullptr);
    argv = more.data();
  }
};

// A batch as NativeBatch (src/native.ts) sends it: batch(meta, labels,
// values, ...spread). meta is a Uint32Array: for each request its op, its
// field count and their key ids, read straight from memory. The fields'
// values come end to end as the call's own arguments (spread: all read in
// the call's one napi_get_cb_info), or, for a batch too big to spread, as
// the array `values` (an element read each).
struct BatchArgs {
  const uint32_t* meta;
  size_t metaLen;
  Napi::Array labels;
  Napi::Array values;              // array mode; empty when spread
  const napi_value* spread = nullptr;
  uint32_t count;                  // values in all
};

BatchArgs batchArgs(Napi::Env env, const RawCall& c, size_t from) {
  auto arg = [&](size_t i) { return Napi::Value(env, i < c.argc ? c.argv[i] : nullptr); };
  if (c.argc < from + 3 || !arg(from).IsTypedArray() || arg(from).As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
      !arg(from + 1).IsArray() || !(arg(from + 2).IsArray() || arg(from + 2).IsUndefined()))
    throw Napi::TypeError::New(env, "rtnl: batch(meta: Uint32Array, labels: string[], values: unknown[] | undefined, ...values)");
  auto meta = arg(from).As<Napi::Uint32Array>();
  BatchArgs a{meta.Data(), meta.ElementLength(), arg(from + 1).As<Napi::Array>()};
  if (arg(from + 2).IsArray()) {
    a.values = arg(from + 2).As<Napi::Array>();
    a.count = a.values.Length();
  } else {
    a.spread = c.argv + from + 3;
    a.count = static_cast<uint32_t>(c.argc - from - 3);
  }
  return a;
}

// Encodes a batch into b; seq() hands out the sequence number of each
// request in turn.
template <typename Seq>
void encodeList(Requests& b, Napi::Env env, Seq seq, const BatchArgs& a) {
  uint32_t at = 0, nValues = a.count, count = a.labels.Length();
  b.pend.reserve(count);
  b.ops.reserve(count);
  b.w.bytes().reserve(count * 64);
  for (size_t i = 0; i < a.metaLen;) {
    uint32_t n = i + 1 < a.metaLen ? a.meta[i + 1] : UINT32_MAX;
    if (n > a.metaLen - i - 2 || n > nValues - at) throw Napi::TypeError::New(env, "rtnl: batch meta and values disagree");
    if (a.spread) b.add(env, seq(), a.meta[i], Arg(env, a.meta + i + 2, a.spread + at, n));
    else b.add(env, seq(), a.meta[i], Arg(env, a.meta + i + 2, a.values, at, n));
    i += 2 + n;
    at += n;
  }
  if (b.pend.size() != count) throw Napi::TypeError::New(env, "rtnl: a batch needs a label per request");
  b.labels = Napi::Persistent(a.labels);
}

// exec(socket, op, object, key id, value, key id, value...): one request.
// The object (named in errors) is read only if the request fails.
void encodeOne(Requests& b, Napi::Env env, uint32_t seq, const RawCall& c) {
  if (c.argc < 3 || c.argc > 3 + 2 * 64) throw Napi::TypeError::New(env, "rtnl: exec(socket, op, object, fields...)");
  uint32_t op;
  if (napi_get_value_uint32(env, c.argv[1], &op) != napi_ok) op = UINT32_MAX;
  b.add(env, seq, op, Arg(env, c.argv + 3, c.argc - 3));
}

void label(Requests& b, Napi::Env env, const RawCall& c) {
  Napi::Value v(env, c.argv[2]);
  if (v.IsString()) b.single = v.As<Napi::String>().Utf8Value();
}

// The socket a Handle exposes as an External (Handle's `socket`).
using SocketRef = std::shared_ptr<NlSocket>;
NlSocket& socketOf(Napi::Env env, const RawCall& c, SocketRef* keep = nullptr) {
  void* p = nullptr;
  napi_value v = c.argc > 0 ? c.argv[0] : nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) throw Napi::TypeError::New(env, "rtnl: the first argument must be a handle's socket");
  auto& s = *static_cast<SocketRef*>(p);
  if (s->closed()) throw makeError(env, EBADF, "use", "handle", "the handle is closed");
  if (keep) *keep = s;
  return *s;
}

// A raw callback running F: no per-call allocation for the arguments (a
// Napi::CallbackInfo allocates past six), C++ errors thrown into JS.
template <napi_value (*F)(Napi::Env, const RawCall&)>
napi_value callback(napi_env env, napi_callback_info cb) {
  try {
    RawCall c(env, cb);
    return F(Napi::Env(env), c);
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
    return nullptr;
  }
}

// The sync path's Requests, reused: its buffers keep their capacity, so a
// request costs no allocation and a batch no fresh pages (page faults).
// Taken for one call (a nested call, from an error factory, gets a fresh
// one) and put back empty; one grown past 4 MiB by a huge batch is freed.
class SyncRequests {
 public:
  SyncRequests() : b_(spare_ ? std::move(spare_) : std::make_unique<Requests>()) {}
  ~SyncRequests() {
    if (b_->w.bytes().capacity() > (4 << 20)) return;
    b_->reset();
    spare_ = std::move(b_);
  }
  Requests& operator*() { return *b_; }
  Requests* operator->() { return b_.get(); }

 private:
  std::unique_ptr<Requests> b_;
  static inline thread_local std::unique_ptr<Requests> spare_;
};

class Worker : public Napi::AsyncWorker {
 public:
  Worker(Napi::Env env, std::shared_ptr<NlSocket> s, std::unique_ptr<Requests> b, bool single)
      : Napi::AsyncWorker(env, "rtnl"), deferred_(Napi::Promise::Deferred::New(env)),
        sock_(std::move(s)), batch_(std::move(b)), single_(single) {}
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      sock_->transact(batch_->w.bytes(), batch_->pend);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    KeyScope keys(env);
    if (!single_) return deferred_.Resolve(batch_->results(env));
    bool failed;
    Napi::Value v = batch_->result(env, 0, failed);
    if (failed) deferred_.Reject(v);
    else deferred_.Resolve(v);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<NlSocket> sock_;  // keeps the socket open while we run, even if closed meanwhile
  std::unique_ptr<Requests> batch_;
  bool single_;
};

}  // namespace

Napi::Function Handle::Init(Napi::Env env) {
  return DefineClass(env, "Handle",
                     {InstanceMethod<&Handle::Close>("close")});
}

// new Handle(ns?: number | string): an fd or a path; absent: this thread's namespace.
Handle::Handle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Handle>(info) {
  Napi::Env env = info.Env();
  std::vector<int> fds;
  MsgWriter unused;
  Encoder enc{unused, 0, fds};
  try {
    int ns = info.Length() > 0 && !info[0].IsUndefined() ? enc.nsFd(info[0]) : -1;
    sock_ = NlSocket::open(ns);
  } catch (const std::system_error& e) {
    for (int fd : fds) ::close(fd);
    throw makeSysError(env, e, "open", info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "");
  }
  for (int fd : fds) ::close(fd);
  // For exec: the socket as an External (its own reference, dropped when
  // the External is collected).
  info.This().As<Napi::Object>().Set(
      "socket", Napi::External<SocketRef>::New(env, new SocketRef(sock_), [](Napi::Env, SocketRef* p) { delete p; }));
}

namespace {

napi_value execSync(Napi::Env env, const RawCall& c) {
  KeyScope keys(env);
  NlSocket& s = socketOf(env, c);
  SyncRequests b;
  encodeOne(*b, env, s.nextSeq(), c);
  s.transact(b->w.bytes(), b->pend);
  if (b->pend[0].reply.error) label(*b, env, c);  // read only for an error: no string copy per call
  bool failed;
  Napi::Value v = b->result(env, 0, failed);
  if (failed) throw Napi::Error(env, v);
  return v;
}

napi_value execAsync(Napi::Env env, const RawCall& c) {
  KeyScope keys(env);
  SocketRef s;
  socketOf(env, c, &s);
  auto b = std::make_unique<Requests>();
  encodeOne(*b, env, s->nextSeq(), c);
  label(*b, env, c);  // the arguments are gone when the reply comes
  auto* w = new Worker(env, s, std::move(b), true);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

napi_value batchSync(Napi::Env env, const RawCall& c) {
  KeyScope keys(env);
  NlSocket& s = socketOf(env, c);
  SyncRequests b;
  encodeList(*b, env, [&] { return s.nextSeq(); }, batchArgs(env, c, 1));
  s.transact(b->w.bytes(), b->pend);
  return b->results(env);
}

napi_value batchAsync(Napi::Env env, const RawCall& c) {
  KeyScope keys(env);
  SocketRef s;
  socketOf(env, c, &s);
  auto b = std::make_unique<Requests>();
  encodeList(*b, env, [&] { return s->nextSeq(); }, batchArgs(env, c, 1));
  auto* w = new Worker(env, s, std::move(b), false);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

napi_value encode(Napi::Env env, const RawCall& c) {
  KeyScope keys(env);
  uint32_t seq = 1;
  auto b = std::make_unique<Requests>();
  encodeList(*b, env, [&] { return seq++; }, batchArgs(env, c, 0));
  auto& bytes = b->w.bytes();
  NlSocket::windows(bytes, b->pend);  // the acks as a send would ask for them
  return Napi::Buffer<uint8_t>::Copy(env, bytes.data(), bytes.size());
}

napi_value rawFunction(Napi::Env env, const char* name, napi_callback cb) {
  napi_value fn;
  NAPI_THROW_IF_FAILED(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn), nullptr);
  return fn;
}

}  // namespace

void Handle::Export(Napi::Env env, Napi::Object exports) {
  exports.Set("exec", rawFunction(env, "exec", callback<execSync>));
  exports.Set("execAsync", rawFunction(env, "execAsync", callback<execAsync>));
  exports.Set("batch", rawFunction(env, "batch", callback<batchSync>));
  exports.Set("batchAsync", rawFunction(env, "batchAsync", callback<batchAsync>));
  exports.Set("encode", rawFunction(env, "encode", callback<encode>));
}

Napi::Value Handle::Close(const Napi::CallbackInfo& info) {
  if (sock_) sock_->close();
  return info.Env().Undefined();
}

}  // namespace rtnl
