// Event subscriptions. A non-blocking NETLINK_ROUTE socket joins the
// multicast groups of the kinds asked for and is polled by libuv on the
// Node event loop itself: no thread, and nothing ever blocks. Each time it
// is readable, every queued datagram is read, decoded with the decoders the
// dumps use (decoderFor), and handed to JS in one call. A receive-buffer
// overrun (ENOBUFS) becomes an explicit resync item, never a silent loss.
#include "events.h"
#include "keys.h"

#include <errno.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "netns.h"
#include "ops.h"

namespace rtnl {

namespace {

struct Kind {
  const char* name;
  uint16_t newType, delType;
  unsigned groups[2];  // 0: none
};

// Indexed by the bit a kind has in the subscriber's mask.
constexpr Kind kKinds[] = {
    {"link", RTM_NEWLINK, RTM_DELLINK, {RTNLGRP_LINK, 0}},
    {"address", RTM_NEWADDR, RTM_DELADDR, {RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR}},
    {"route", RTM_NEWROUTE, RTM_DELROUTE, {RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE}},
    {"neighbour", RTM_NEWNEIGH, RTM_DELNEIGH, {RTNLGRP_NEIGH, 0}},
    {"fdb", RTM_NEWNEIGH, RTM_DELNEIGH, {RTNLGRP_NEIGH, 0}},
    {"rule", RTM_NEWRULE, RTM_DELRULE, {RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE}},
    {"nexthop", RTM_NEWNEXTHOP, RTM_DELNEXTHOP, {RTNLGRP_NEXTHOP, 0}},
};
enum { kLink, kAddress, kRoute, kNeighbour, kFdb, kRule, kNexthop, kNumKinds };

// Most datagrams read per readable callback: the poll is level-triggered, so
// whatever is left is read on the next loop turn, after other callbacks ran.
constexpr int kMaxDatagrams = 4096;

template <typename T>
const T* body(const nlmsghdr* h) {
  return h->nlmsg_len >= NLMSG_LENGTH(sizeof(T)) ? static_cast<const T*>(NLMSG_DATA(h)) : nullptr;
}

// The kind of a notification, or -1 for one that no kind covers.
int kindOf(const nlmsghdr* h) {
  switch (h->nlmsg_type) {
    case RTM_NEWLINK:
    case RTM_DELLINK: {
      // AF_BRIDGE link messages report bridge-port state on the same group:
      // a port leaving its bridge is an AF_BRIDGE RTM_DELLINK while the link
      // itself lives on, so they are not link events.
      auto* ifi = body<ifinfomsg>(h);
      return ifi && ifi->ifi_family != AF_BRIDGE ? kLink : -1;
    }
    case RTM_NEWADDR:
    case RTM_DELADDR: return kAddress;
    case RTM_NEWROUTE:
    case RTM_DELROUTE: return kRoute;
    case RTM_NEWRULE:
    case RTM_DELRULE: return kRule;
    case RTM_NEWNEXTHOP:
    case RTM_DELNEXTHOP: return kNexthop;
    case RTM_NEWNEIGH:
    case RTM_DELNEIGH: {
      // FDB entries share the neighbour messages and group; the family tells them apart.
      auto* nd = body<ndmsg>(h);
      if (!nd) return -1;
      return nd->ndm_family == AF_BRIDGE ? kFdb : kNeighbour;
    }
  }
  return -1;
}

void setOpt(int fd, int level, int name, int value, const char* what) {
  if (setsockopt(fd, level, name, &value, sizeof value) < 0) throw std::system_error(errno, std::generic_category(), what);
}

// A socket in nsFd's namespace, joined to the groups of the kinds in mask.
int openSocket(int nsFd, unsigned mask, int rcvbuf) {
  int fd;
  {
    NsSwitch in(nsFd);
    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  }
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket(NETLINK_ROUTE)");
  try {
    // FORCE needs CAP_NET_ADMIN; without it the rmem_max limit applies.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
      setOpt(fd, SOL_SOCKET, SO_RCVBUF, rcvbuf, "setsockopt(SO_RCVBUF)");
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0)
      throw std::system_error(errno, std::generic_category(), "bind(netlink)");
    for (unsigned k = 0; k < kNumKinds; k++) {
      if (!(mask & (1u << k))) continue;
      for (unsigned g : kKinds[k].groups)
        if (g) setOpt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, static_cast<int>(g), "setsockopt(NETLINK_ADD_MEMBERSHIP)");
    }
    return fd;
  } catch (...) {
    ::close(fd);
    throw;
  }
}

class Subscription : public Napi::ObjectWrap<Subscription> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Subscription",
                       {InstanceMethod<&Subscription::Close>("close"), InstanceMethod<&Subscription::Ref>("ref"),
                        InstanceMethod<&Subscription::Unref>("unref")});
  }

  // (ns: number | string | undefined, kinds: string[], rcvbuf: number, onEvents: (items, error?) => void)
  explicit Subscription(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Subscription>(info), rx_(64 * 1024) {
    Napi::Env env = info.Env();
    if (!info[1].IsArray()) throw Napi::TypeError::New(env, "subscribe: kinds must be an array");
    Napi::Array kinds = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < kinds.Length(); i++) {
      std::string name = kinds.Get(i).ToString().Utf8Value();
      unsigned k = 0;
      while (k < kNumKinds && name != kKinds[k].name) k++;
      if (k == kNumKinds) throw Napi::TypeError::New(env, "subscribe: unknown event kind '" + name + "'");
      // Refuse up front rather than join a group whose messages cannot be decoded.
      if (!decoderFor(kKinds[k].newType) || !decoderFor(kKinds[k].delType))
        throw Napi::Error::New(env, "subscribe: this build has no decoder for '" + name + "' messages");
      mask_ |= 1u << k;
    }
    if (!info[2].IsNumber() || !info[3].IsFunction()) throw Napi::TypeError::New(env, "subscribe: expected (ns, kinds, rcvbuf, onEvents)");
    int rcvbuf = info[2].As<Napi::Number>().Int32Value();

    std::vector<int> fds;
    MsgWriter unused;
    Encoder enc{unused, 0, fds};
    int fd;
    try {
      fd = openSocket(info[0].IsUndefined() ? -1 : enc.nsFd(info[0]), mask_, rcvbuf);
    } catch (const std::system_error& e) {
      for (int f : fds) ::close(f);
      throw makeSysError(env, e, "subscribe", info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "");
    } catch (...) {
      for (int f : fds) ::close(f);
      throw;
    }
    for (int f : fds) ::close(f);

    uv_loop_t* loop = nullptr;
    auto poll = std::make_unique<Poll>();
    poll->fd = fd;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &poll->handle, fd) != 0) {
      ::close(fd);
      throw Napi::Error::New(env, "subscribe: cannot poll the netlink socket on the event loop");
    }
    poll_ = poll.release();
    poll_->handle.data = this;
    onEvents_ = Napi::Persistent(info[3].As<Napi::Function>());
    ctx_ = std::make_unique<Napi::AsyncContext>(env, "rtnl:subscription");
    if (int e = uv_poll_start(&poll_->handle, UV_READABLE, onReadable)) {
      stop();
      throw makeError(env, -e, "subscribe", "", "cannot poll the netlink socket on the event loop");
    }
  }

  ~Subscription() override { stop(); }

 private:
  // libuv owns this from uv_poll_init until the close callback, which may
  // run after the JS object is gone; the fd is closed there, once libuv has
  // let go of it.
  struct Poll {
    uv_poll_t handle;
    int fd = -1;
  };

  static void onReadable(uv_poll_t* handle, int status, int) {
    static_cast<Subscription*>(handle->data)->drain(status);
  }

  // Reads until the socket is empty (or kMaxDatagrams), then calls onEvents
  // once with the items in arrival order.
  void drain(int status) {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    KeyScope keys(env);
    Napi::Array items = Napi::Array::New(env);
    uint32_t n = 0;
    int err = 0;
    Napi::Value error = env.Undefined();
    bool resync = false;  // the last item is a resync: consecutive overruns collapse into one
    auto overrun = [&] {
      // The kernel dropped notifications: what the subscriber holds is stale.
      if (resync) return;
      Napi::Object r = Napi::Object::New(env);
      set(r, "kind", "resync");
      set(r, "reason", "overflow");
      items.Set(n++, r);
      resync = true;
    };
    if (status < 0) {
      // libuv reports POLLERR as UV_EBADF and stops the handle. On a netlink
      // socket POLLERR is the pending overrun error: collect it and poll on.
      int soErr = 0;
      socklen_t soLen = sizeof soErr;
      if (getsockopt(poll_->fd, SOL_SOCKET, SO_ERROR, &soErr, &soLen) < 0) err = errno;
      else if (soErr && soErr != ENOBUFS) err = soErr;
      else if ((err = -uv_poll_start(&poll_->handle, UV_READABLE, onReadable)) == 0 && soErr) overrun();
    }
    for (int i = 0; !err && error.IsUndefined() && i < kMaxDatagrams; i++) {
      // Peek at the size first so that no datagram is ever cut short.
      ssize_t len = recv(poll_->fd, nullptr, 0, MSG_PEEK | MSG_TRUNC);
      if (len >= 0) {
        if (static_cast<size_t>(len) > rx_.size()) rx_.resize(static_cast<size_t>(len));
        sockaddr_nl from{};
        socklen_t fromLen = sizeof from;
        len = recvfrom(poll_->fd, rx_.data(), rx_.size(), 0, reinterpret_cast<sockaddr*>(&from), &fromLen);
        if (len >= 0) {
          // A decoder that throws is reported like a socket error: nothing after it can be trusted.
          try {
            if (from.nl_pid == 0 && decode(env, static_cast<size_t>(len), items, n)) resync = false;  // only the kernel's
          } catch (const Napi::Error& e) {
            error = e.Value();
          } catch (const std::exception& e) {
            error = Napi::Error::New(env, std::string("subscribe: decoding a notification failed: ") + e.what()).Value();
          }
          continue;
        }
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == ENOBUFS) {
        overrun();
        continue;
      }
      err = errno;
    }
    if (err) error = makeError(env, err, "subscribe", "", "reading netlink notifications failed").Value();
    if (n == 0 && error.IsUndefined()) return;
    Napi::Function onEvents = onEvents_.Value();
    if (!error.IsUndefined()) stop();  // after an unexpected error nothing more can be trusted to arrive
    // A listener may throw; that is an uncaught exception like any other listener's.
    try {
      onEvents.MakeCallback(Value(), {items, error}, *ctx_);
    } catch (const Napi::Error& e) {
      napi_fatal_exception(env, e.Value());
    }
  }

  // Appends the wanted messages of the datagram in rx_; true if any was.
  bool decode(Napi::Env env, size_t len, Napi::Array& items, uint32_t& n) {
    bool any = false;
    for (auto* h = reinterpret_cast<const nlmsghdr*>(rx_.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      int k = kindOf(h);
      if (k < 0 || !(mask_ & (1u << k))) continue;
      MsgDecoder dec = decoderFor(h->nlmsg_type);
      if (!dec) continue;
      Napi::Value v = dec(env, h);
      if (v.IsUndefined()) continue;  // a message the decoder deliberately skips
      Napi::Object ev = Napi::Object::New(env);
      set(ev, "kind", kKinds[k].name);
      set(ev, "action", h->nlmsg_type == kKinds[k].delType ? "del" : "new");
      set(ev, "value", v);
      items.Set(n++, ev);
      any = true;
    }
    return any;
  }

  // Stops polling and releases the socket; safe to call more than once.
  void stop() {
    if (!poll_) return;
    uv_poll_stop(&poll_->handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_->handle), [](uv_handle_t* h) {
      auto* p = reinterpret_cast<Poll*>(h);
      ::close(p->fd);
      delete p;
    });
    poll_ = nullptr;
    onEvents_.Reset();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    stop();
    return info.Env().Undefined();
  }
  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (poll_) uv_ref(reinterpret_cast<uv_handle_t*>(&poll_->handle));
    return info.Env().Undefined();
  }
  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (poll_) uv_unref(reinterpret_cast<uv_handle_t*>(&poll_->handle));
    return info.Env().Undefined();
  }

  unsigned mask_ = 0;
  Poll* poll_ = nullptr;
  std::vector<uint8_t> rx_;
  Napi::FunctionReference onEvents_;
  std::unique_ptr<Napi::AsyncContext> ctx_;
};

}  // namespace

Napi::Function SubscriptionClass(Napi::Env env) { return Subscription::Init(env); }

}  // namespace rtnl
