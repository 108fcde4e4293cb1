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
  // batch's list (op, arg, object, op...: NativeRequests in src/native.ts),
  // or the one request's object.
  Napi::Reference<Napi::Array> list;
  std::string single;

  ~Requests() {
    for (int fd : fds) ::close(fd);
  }

  void add(Napi::Env env, uint32_t seq, const Napi::Value& op, const Napi::Value& arg) {
    uint32_t i = op.IsNumber() ? op.As<Napi::Number>().Uint32Value() : UINT32_MAX;
    if (i >= opTable().size()) throw Napi::TypeError::New(env, "rtnl: unknown operation");
    if (!arg.IsObject()) throw Napi::TypeError::New(env, "rtnl: operation argument must be an object");
    const Op& o = opTable()[i];
    Encoder enc{w, seq, fds};
    size_t at = w.bytes().size();
    o.encode(enc, arg.As<Napi::Object>());
    Pending p;
    p.offset = at;
    p.len = w.bytes().size() - at;
    p.dump = o.dump;
    p.data = o.data;
    pend.push_back(std::move(p));
    ops.push_back(&o);
  }

  std::string what(size_t i) const {
    if (list.IsEmpty()) return single;
    Napi::Value v = list.Value().Get(3 * i + 2);
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

// seq() hands out the sequence number of each request in turn.
template <typename Seq>
std::unique_ptr<Requests> encodeList(Napi::Env env, Seq seq, const Napi::Value& list) {
  if (!list.IsArray()) throw Napi::TypeError::New(env, "rtnl: batch expects an array");
  auto b = std::make_unique<Requests>();
  Napi::Array a = list.As<Napi::Array>();
  uint32_t n = a.Length();
  if (n % 3) throw Napi::TypeError::New(env, "rtnl: batch expects op, arg, object for each request");
  b->pend.reserve(n / 3);
  b->ops.reserve(n / 3);
  b->w.bytes().reserve(n / 3 * 64);
  for (uint32_t i = 0; i < n; i += 3) b->add(env, seq(), a.Get(i), a.Get(i + 1));
  b->list = Napi::Persistent(a);
  return b;
}

// One request: op, argument (info[0], info[1]).
std::unique_ptr<Requests> encodeOne(Napi::Env env, uint32_t seq, const Napi::CallbackInfo& info) {
  auto b = std::make_unique<Requests>();
  b->w.bytes().reserve(256);  // most requests fit: no regrowth while encoding
  b->add(env, seq, info[0], info[1]);
  return b;
}

// The object the request names in errors (info[2]).
void label(Requests& b, const Napi::CallbackInfo& info) {
  if (info[2].IsString()) b.single = info[2].As<Napi::String>().Utf8Value();
}

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
                     {InstanceMethod<&Handle::Exec>("exec"), InstanceMethod<&Handle::ExecAsync>("execAsync"),
                      InstanceMethod<&Handle::Batch>("batch"), InstanceMethod<&Handle::BatchAsync>("batchAsync"),
                      InstanceMethod<&Handle::Close>("close")});
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
}

std::shared_ptr<NlSocket> Handle::socket(Napi::Env env) {
  if (!sock_ || sock_->closed()) throw makeError(env, EBADF, "use", "handle", "the handle is closed");
  return sock_;
}

Napi::Value Handle::Exec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  KeyScope keys(env);
  auto s = socket(env);
  auto b = encodeOne(env, s->nextSeq(), info);
  s->transact(b->w.bytes(), b->pend);
  if (b->pend[0].reply.error) label(*b, info);  // read only for an error: no string copy per call
  bool failed;
  Napi::Value v = b->result(env, 0, failed);
  if (failed) throw Napi::Error(env, v);
  return v;
}

Napi::Value Handle::ExecAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  KeyScope keys(env);
  auto s = socket(env);
  auto b = encodeOne(env, s->nextSeq(), info);
  label(*b, info);  // info is gone when the reply comes
  auto* w = new Worker(env, s, std::move(b), true);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

Napi::Value Handle::Batch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  KeyScope keys(env);
  auto s = socket(env);
  auto b = encodeList(env, [&] { return s->nextSeq(); }, info[0]);
  s->transact(b->w.bytes(), b->pend);
  return b->results(env);
}

Napi::Value Handle::BatchAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  KeyScope keys(env);
  auto s = socket(env);
  auto* w = new Worker(env, s, encodeList(env, [&] { return s->nextSeq(); }, info[0]), false);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

Napi::Value Handle::Encode(const Napi::CallbackInfo& info) {
  KeyScope keys(info.Env());
  uint32_t seq = 1;
  auto b = encodeList(info.Env(), [&] { return seq++; }, info[0]);
  auto& bytes = b->w.bytes();
  NlSocket::windows(bytes, b->pend);  // the acks as a send would ask for them
  return Napi::Buffer<uint8_t>::Copy(info.Env(), bytes.data(), bytes.size());
}

Napi::Value Handle::Close(const Napi::CallbackInfo& info) {
  if (sock_) sock_->close();
  return info.Env().Undefined();
}

}  // namespace rtnl
