// Module entry: the Handle class, the op ids, namespace syscalls, and the
// hook through which native errors become the TS NetlinkError.
#include <fcntl.h>
#include <napi.h>
#include <string.h>
#include <unistd.h>

#include <system_error>

#include "arg.h"
#include "attrs.h"
#include "events.h"
#include "handle.h"
#include "instance.h"
#include "netns.h"
#include "ops.h"
#include "peercred.h"

namespace rtnl {

KeyCache& keyCache(napi_env env) { return Napi::Env(env).GetInstanceData<Instance>()->keys; }

namespace {

// Runs f, turning an OS error into a typed error for op/object.
template <typename F>
auto sysCall(Napi::Env env, const char* op, const std::string& object, F f) {
  try {
    return f();
  } catch (const std::system_error& e) {
    throw makeSysError(env, e, op, object);
  }
}

std::string str(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

int fdArg(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "fd must be a number");
  return info[i].As<Napi::Number>().Int32Value();
}

Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  info.Env().GetInstanceData<Instance>()->errorFactory = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value NsOpen(const Napi::CallbackInfo& info) {
  std::string path = str(info, 0, "path");
  return Napi::Number::New(info.Env(), sysCall(info.Env(), "netnsOpen", path, [&] { return nsOpen(path); }));
}

Napi::Value NsInode(const Napi::CallbackInfo& info) {
  int fd = fdArg(info, 0);
  return Napi::Number::New(info.Env(), static_cast<double>(sysCall(info.Env(), "netnsInode", "", [&] { return nsInode(fd); })));
}

// The namespace the calling (main) thread is in right now.
Napi::Value ThreadNsInode(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(sysCall(info.Env(), "netnsCurrent", "", [] {
    int fd = nsOpen("/proc/thread-self/ns/net");
    uint64_t ino = nsInode(fd);
    close(fd);
    return ino;
  })));
}

Napi::Value NsCreate(const Napi::CallbackInfo& info) {
  std::string dir = str(info, 0, "dir"), name = str(info, 1, "name");
  return Napi::Number::New(info.Env(), sysCall(info.Env(), "netnsCreate", name, [&] { return nsCreateNamed(dir, name); }));
}

Napi::Value NsDelete(const Napi::CallbackInfo& info) {
  std::string dir = str(info, 0, "dir"), name = str(info, 1, "name");
  sysCall(info.Env(), "netnsDelete", name, [&] { nsDeleteNamed(dir, name); });
  return info.Env().Undefined();
}

// nsRun(fd, fn): calls fn with the thread in fd's namespace; back afterwards, even on throw.
Napi::Value NsRun(const Napi::CallbackInfo& info) {
  int fd = fdArg(info, 0);
  if (!info[1].IsFunction()) throw Napi::TypeError::New(info.Env(), "fn must be a function");
  return sysCall(info.Env(), "netnsRun", "", [&] {
    NsSwitch in(fd);
    return info[1].As<Napi::Function>().Call({});
  });
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new Instance());
  Napi::Object ops = Napi::Object::New(env);
  for (size_t i = 0; i < opTable().size(); i++) ops.Set(opTable()[i].name, Napi::Number::New(env, i));
  exports.Set("ops", ops);
  exports.Set("Handle", Handle::Init(env));
  Handle::Export(env, exports);
  exports.Set("setErrorFactory", Napi::Function::New<SetErrorFactory>(env));
  exports.Set("nsOpen", Napi::Function::New<NsOpen>(env));
  exports.Set("nsInode", Napi::Function::New<NsInode>(env));
  exports.Set("threadNsInode", Napi::Function::New<ThreadNsInode>(env));
  exports.Set("nsCreate", Napi::Function::New<NsCreate>(env));
  exports.Set("nsDelete", Napi::Function::New<NsDelete>(env));
  exports.Set("nsRun", Napi::Function::New<NsRun>(env));
  exports.Set("Subscription", SubscriptionClass(env));
  exports.Set("peerCred", Napi::Function::New<PeerCred>(env));
  exports.Set("nsIdentity", Napi::Function::New<NsIdentity>(env));
  exports.Set("keyId", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), keyId(str(info, 0, "key")));
  }));
  exports.Set("schema", Napi::Function::New(env, [](const Napi::CallbackInfo& info) { return schemaObject(info.Env()); }));
  return exports;
}

std::vector<Op>& opTable() {
  static std::vector<Op> table;
  return table;
}

namespace {
std::vector<MsgDecoder>& decoders() {
  static std::vector<MsgDecoder> table(RTM_MAX + 1, nullptr);
  return table;
}
}  // namespace

MsgDecoder decoderFor(uint16_t type) { return type <= RTM_MAX ? decoders()[type] : nullptr; }

RegisterDecoders::RegisterDecoders(std::initializer_list<std::pair<uint16_t, MsgDecoder>> list) {
  for (auto& [type, fn] : list) decoders()[type] = fn;
}

int Encoder::nsFd(const Napi::Value& v) {
  if (v.IsNumber()) return v.As<Napi::Number>().Int32Value();
  std::string path = v.As<Napi::String>().Utf8Value();
  int fd = sysCall(v.Env(), "netnsOpen", path, [&] { return nsOpen(path); });
  fds.push_back(fd);
  return fd;
}

Napi::Error makeSysError(Napi::Env env, const std::system_error& e, const std::string& op, const std::string& object) {
  // what() is "<context>: <strerror>"; the error already carries strerror.
  std::string what = e.what(), tail = ": " + e.code().message();
  if (what.size() > tail.size() && what.compare(what.size() - tail.size(), tail.size(), tail) == 0)
    what.resize(what.size() - tail.size());
  return makeError(env, e.code().value(), op, object, what);
}

Napi::Error makeError(Napi::Env env, int err, const std::string& op, const std::string& object,
                      const std::string& extack, int64_t offset) {
  const char* code = strerrorname_np(err);
  Napi::Value off = offset >= 0 ? Napi::Number::New(env, static_cast<double>(offset)) : env.Undefined();
  Napi::Value args[] = {Napi::String::New(env, code ? code : "EUNKNOWN"), Napi::Number::New(env, err),
                        Napi::String::New(env, strerror(err)), Napi::String::New(env, op),
                        Napi::String::New(env, object),
                        extack.empty() ? env.Undefined() : Napi::String::New(env, extack), off};
  auto* inst = env.GetInstanceData<Instance>();
  if (inst->errorFactory.IsEmpty()) return Napi::Error::New(env, op + " " + object + ": " + strerror(err));
  return Napi::Error(env, inst->errorFactory.Call({args[0], args[1], args[2], args[3], args[4], args[5], args[6]}));
}

}  // namespace rtnl

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return rtnl::Init(env, exports); }

NODE_API_MODULE(rtnl, InitModule)
