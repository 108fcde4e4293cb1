// Who is at the other end of a unix socket, from the kernel (for the CNI
// plugin's resident helper, which must not believe what a client says).
#pragma once
#include <napi.h>

namespace rtnl {

// peerCred(fd) -> { pid, uid, gid, net, mnt }: SO_PEERCRED, and the peer's
// network and mount namespace identities ("dev:ino"), or undefined for each
// when they cannot be read for that very process (it exited, its pid reused).
Napi::Value PeerCred(const Napi::CallbackInfo& info);

// nsIdentity(path) -> "dev:ino" of the namespace file at path, the same form as peerCred's.
Napi::Value NsIdentity(const Napi::CallbackInfo& info);

}  // namespace rtnl
