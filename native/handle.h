// The JS-facing handle: one netlink socket bound to a namespace, running
// registered ops synchronously, on the libuv threadpool, or as a batch.
#pragma once

#include <napi.h>

#include <memory>

#include "socket.h"

namespace rtnl {

class Handle : public Napi::ObjectWrap<Handle> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Handle(const Napi::CallbackInfo& info);
  // Module functions taking a handle's `socket` (an External) rather than
  // methods: a method unwraps its object, a property lookup, on every call.
  //   exec(socket, op, object, key id, value...): one request, its reply
  //   decoded or its error thrown; execAsync: the same as a Promise.
  //   batch(socket, meta, labels, values, ...values): many, pipelined
  //   (NativeBatch in src/native.ts); batchAsync: the same as a Promise.
  //   encode(meta, labels, values, ...values): the bytes a batch would
  //   send (sequence numbers from 1, nothing sent), for byte-for-byte
  //   comparison with other tools.
  static void Export(Napi::Env env, Napi::Object exports);

 private:
  Napi::Value Close(const Napi::CallbackInfo& info);

  std::shared_ptr<NlSocket> sock_;
};

}  // namespace rtnl
