// The operation registry: each codec file registers its operations (one
// encoder and one decoder per message type); the Handle runs them.
#pragma once

#include <napi.h>

#include <initializer_list>
#include <string>
#include <system_error>
#include <vector>

#include "arg.h"
#include "socket.h"
#include "wire.h"

namespace rtnl {

// What an encoder gets: the buffer, the request's sequence number, and a
// place for file descriptors it opens (closed once the request is sent).
struct Encoder {
  MsgWriter& w;
  uint32_t seq;
  std::vector<int>& fds;
  // A namespace reference as TS passes it: an fd (number) or a path
  // (string), which is opened here and closed after the send.
  int nsFd(const Napi::Value& v);
};

struct Op {
  const char* name;        // the TS verb, e.g. "linkAdd": reported in errors
  bool dump;               // NLM_F_DUMP: runs alone, retried on NLM_F_DUMP_INTR
  bool data;               // the kernel answers with messages, not only an ack
  void (*encode)(Encoder&, const Arg& arg);
  Napi::Value (*decode)(Napi::Env, const Reply&);  // nullptr: the result is undefined
  const char* verb = nullptr;  // the verb in errors when several ops serve one (name otherwise)
};

std::vector<Op>& opTable();

// Decoders by message type (RTM_NEWLINK...), shared by replies and events.
using MsgDecoder = Napi::Value (*)(Napi::Env, const nlmsghdr*);
MsgDecoder decoderFor(uint16_t type);  // nullptr if no codec handles it
struct RegisterDecoders {
  RegisterDecoders(std::initializer_list<std::pair<uint16_t, MsgDecoder>> list);
};

// Codec files register their ops at static-initialisation time.
struct RegisterOps {
  RegisterOps(std::initializer_list<Op> ops) { opTable().insert(opTable().end(), ops); }
};

// An op's decoder built from a message decoder D: every message of the
// reply decoded (D may skip one by returning undefined), or just the first.
template <MsgDecoder D>
Napi::Value listOf(Napi::Env env, const Reply& r) {
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  size_t left = r.data.size();
  for (auto* h = reinterpret_cast<const nlmsghdr*>(r.data.data()); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
    Napi::Value v = D(env, h);
    if (!v.IsUndefined()) out.Set(i++, v);
  }
  return out;
}

template <MsgDecoder D>
Napi::Value firstOf(Napi::Env env, const Reply& r) {
  size_t left = r.data.size();
  auto* h = reinterpret_cast<const nlmsghdr*>(r.data.data());
  return NLMSG_OK(h, left) ? D(env, h) : env.Undefined();
}

// A typed error (the TS NetlinkError) for errno err.
Napi::Error makeError(Napi::Env env, int err, const std::string& op, const std::string& object,
                      const std::string& extack = "", int64_t offset = -1);
// The same for an OS error thrown by a syscall wrapper.
Napi::Error makeSysError(Napi::Env env, const std::system_error& e, const std::string& op, const std::string& object);

}  // namespace rtnl
