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
  // encode(requests): the bytes a batch would send (sequence numbers from 1,
  // nothing sent), for byte-for-byte comparison with other tools.
  static Napi::Value Encode(const Napi::CallbackInfo& info);
  // exec(socket, op, object, key id, value...): one request, its reply
  // decoded (or its error thrown); execAsync the same as a Promise. Module
  // functions taking the handle's `socket` (an External), not methods: a
  // method unwraps its object, a property lookup, on every call.
  static Napi::Function Exec(Napi::Env env);
  static Napi::Function ExecAsync(Napi::Env env);

 private:
  Napi::Value Batch(const Napi::CallbackInfo& info);
  Napi::Value BatchAsync(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  std::shared_ptr<NlSocket> socket(Napi::Env env);

  std::shared_ptr<NlSocket> sock_;
};

}  // namespace rtnl
