// SO_PEERCRED and the peer's namespaces, guarded against pid reuse: the pid
// the kernel recorded at connect() may have exited and been reused by the time
// /proc/<pid>/ns is read. A pidfd pins the process: SO_PEERPIDFD (Linux 6.5)
// refers to the connecting process itself; the namespaces read through
// /proc/<pid> are trusted only if that process is still alive afterwards
// (while it lives, its pid cannot name another process).
#include "peercred.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <optional>
#include <string>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace rtnl {

namespace {

std::optional<std::string> identity(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) < 0) return std::nullopt;
  return std::to_string(static_cast<uint64_t>(st.st_dev)) + ":" + std::to_string(static_cast<uint64_t>(st.st_ino));
}

// A pidfd of the peer: the connecting process itself, or on kernels without
// SO_PEERPIDFD the process that holds `pid` now (a reuse before this call goes unseen there).
int peerPidfd(int sock, pid_t pid) {
  int fd = -1;
  socklen_t len = sizeof fd;
  if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) == 0 && fd >= 0) return fd;
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

Napi::Value orUndefined(Napi::Env env, const std::optional<std::string>& s) {
  return s ? Napi::String::New(env, *s) : env.Undefined();
}

}  // namespace

Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throw Napi::TypeError::New(env, "fd: expected a socket file descriptor");
  int sock = info[0].As<Napi::Number>().Int32Value();
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
    throw Napi::Error::New(env, std::string("getsockopt(SO_PEERCRED): ") + strerror(errno));
  std::optional<std::string> net, mnt;
  if (cred.pid > 0) {
    int pidfd = peerPidfd(sock, cred.pid);
    if (pidfd >= 0) {
      std::string ns = "/proc/" + std::to_string(cred.pid) + "/ns/";
      net = identity(ns + "net");
      mnt = identity(ns + "mnt");
      // Signal 0 checks only that the pidfd's process still exists.
      if (syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) < 0) net = mnt = std::nullopt;
      close(pidfd);
    }
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", Napi::Number::New(env, cred.pid));
  o.Set("uid", Napi::Number::New(env, cred.uid));
  o.Set("gid", Napi::Number::New(env, cred.gid));
  o.Set("net", orUndefined(env, net));
  o.Set("mnt", orUndefined(env, mnt));
  return o;
}

Napi::Value NsIdentity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "path: expected a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  auto id = identity(path);
  if (!id) throw Napi::Error::New(env, "stat " + path + ": " + strerror(errno));
  return Napi::String::New(env, *id);
}

}  // namespace rtnl
