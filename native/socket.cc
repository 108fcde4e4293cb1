#include "socket.h"

#include <errno.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <system_error>

#include "netns.h"
#include "wire.h"

namespace rtnl {

namespace {

// Pipelining window: the kernel drops acks (ENOBUFS) once the receive buffer
// is full, so at most this many requests are outstanding at once.
constexpr size_t kWindowMsgs = 256;
constexpr size_t kWindowBytes = 64 * 1024;
constexpr int kRcvBuf = 4 * 1024 * 1024;
constexpr int kDumpAttempts = 8;

void setOpt(int fd, int level, int name, int value) {
  if (setsockopt(fd, level, name, &value, sizeof value) < 0)
    throw std::system_error(errno, std::generic_category(), "setsockopt");
}

// The receive buffer: one per thread (an exchange runs on one thread, under
// its socket's lock), made on first use and never zero-filled, so opening a
// socket costs no buffer. A dump's datagrams are at most 32 KiB unless one
// message needs more.
class RxBuffer {
 public:
  uint8_t* data() { return p_.get(); }
  size_t size() const { return n_; }
  void atLeast(size_t n) {
    if (n <= n_) return;
    p_.reset(new uint8_t[n]);  // default-initialised: no zero fill
    n_ = n;
  }

 private:
  std::unique_ptr<uint8_t[]> p_;
  size_t n_ = 0;
};

RxBuffer& rxBuffer() {
  thread_local RxBuffer rx;
  rx.atLeast(64 * 1024);
  return rx;
}

// Parses the extended-ack TLVs that follow an error or done payload.
void readExtAck(const uint8_t* p, size_t len, Reply& r) {
  for (auto a : Attrs(p, len)) {
    if (attrType(a) == NLMSGERR_ATTR_MSG) r.extack = std::string(attrStr(a));
    if (attrType(a) == NLMSGERR_ATTR_OFFS) r.extackOffset = attrGet<uint32_t>(a);
  }
}

}  // namespace

std::shared_ptr<NlSocket> NlSocket::open(int nsFd) {
  // The socket is created in whichever namespace the thread is in; NsSwitch
  // puts the thread back before returning, even if creation fails.
  int fd;
  {
    NsSwitch in(nsFd);
    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  }
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket(NETLINK_ROUTE)");
  try {
    setOpt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
    setOpt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);  // errors need not echo our request back
    setOpt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1);
    setOpt(fd, SOL_SOCKET, SO_SNDBUF, 1024 * 1024);
    // FORCE needs CAP_NET_ADMIN; without it the plain limit still applies.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kRcvBuf, sizeof kRcvBuf) < 0)
      setOpt(fd, SOL_SOCKET, SO_RCVBUF, kRcvBuf);
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0)
      throw std::system_error(errno, std::generic_category(), "bind(netlink)");
    socklen_t sl = sizeof sa;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &sl) < 0)
      throw std::system_error(errno, std::generic_category(), "getsockname(netlink)");
    return std::shared_ptr<NlSocket>(new NlSocket(fd, sa.nl_pid));
  } catch (...) {
    ::close(fd);
    throw;
  }
}

NlSocket::NlSocket(int fd, uint32_t portid) : fd_(fd), portid_(portid), seq_(1) {}

NlSocket::~NlSocket() { close(); }

void NlSocket::close() {
  std::lock_guard<std::mutex> g(mu_);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void NlSocket::fail(std::vector<Pending>& reqs, size_t from, size_t to, int err, const char* why) {
  for (size_t i = from; i < to; i++) {
    Reply& r = reqs[i].reply;
    if (r.done) continue;
    r.done = true;
    r.error = err;
    r.extack = why;
  }
}

std::vector<std::pair<size_t, size_t>> NlSocket::windows(std::vector<uint8_t>& buf, std::vector<Pending>& reqs) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t i = 0;
  while (i < reqs.size()) {
    size_t j = i + 1, bytes = reqs[i].len;
    if (!reqs[i].dump) {
      while (j < reqs.size() && !reqs[j].dump && j - i < kWindowMsgs && bytes + reqs[j].len <= kWindowBytes) bytes += reqs[j++].len;
      for (size_t k = i; k + 1 < j; k++)
        if (!reqs[k].data) reinterpret_cast<nlmsghdr*>(buf.data() + reqs[k].offset)->nlmsg_flags &= ~NLM_F_ACK;
    }
    out.emplace_back(i, j);
    i = j;
  }
  return out;
}

void NlSocket::transact(std::vector<uint8_t>& buf, std::vector<Pending>& reqs) {
  std::lock_guard<std::mutex> g(mu_);
  if (fd_ < 0) {
    fail(reqs, 0, reqs.size(), EBADF, "the handle is closed");
    return;
  }
  if (reqs.size() == 1 && !reqs[0].dump) return exchange(buf, reqs, 0, 1);  // one plain request: its own window
  for (auto [i, j] : windows(buf, reqs)) {
    if (!reqs[i].dump) {
      exchange(buf, reqs, i, j);
      continue;
    }
    // A dump runs alone: the kernel allows one dump per socket at a time.
    auto* h = reinterpret_cast<nlmsghdr*>(buf.data() + reqs[i].offset);
    for (int attempt = 1;; attempt++) {
      reqs[i].reply = Reply{};
      exchange(buf, reqs, i, i + 1);
      if (!reqs[i].reply.interrupted || reqs[i].reply.error) break;
      if (attempt == kDumpAttempts) {
        reqs[i].reply.error = EINTR;
        reqs[i].reply.extack = "dump kept being interrupted by concurrent changes (NLM_F_DUMP_INTR)";
        reqs[i].reply.data.clear();
        break;
      }
      h->nlmsg_seq = nextSeq();
    }
  }
}

// Sends requests [from, to) (contiguous in buf) in one datagram and reads
// until each has its terminating ack, error or NLMSG_DONE.
void NlSocket::exchange(std::vector<uint8_t>& buf, std::vector<Pending>& reqs, size_t from, size_t to) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  const uint8_t* out = buf.data() + reqs[from].offset;
  size_t outLen = reqs[to - 1].offset + reqs[to - 1].len - reqs[from].offset;
  ssize_t s;
  do s = sendto(fd_, out, outLen, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel);
  while (s < 0 && errno == EINTR);
  if (s < 0) return fail(reqs, from, to, errno, "sendto(netlink) failed");

  auto seqOf = [&](size_t k) { return reinterpret_cast<nlmsghdr*>(buf.data() + reqs[k].offset)->nlmsg_seq; };
  uint32_t first = seqOf(from);
  size_t open = to - from, silent = from;
  // A single reply with data (a get) can exceed any fixed buffer (a link
  // with many VFs): peek at its size first so nothing is cut. A dump's
  // datagrams are read straight in; one too big for the buffer (it grows)
  // restarts the dump. Plain acks are small and take one recv each.
  RxBuffer& rx = rxBuffer();
  bool peek = false, dump = reqs[from].dump;
  for (size_t k = from; k < to; k++) peek |= reqs[k].data && !reqs[k].dump;
  while (open > 0) {
    ssize_t n = 0;
    if (peek) {
      n = recv(fd_, nullptr, 0, MSG_PEEK | MSG_TRUNC);
      if (n > 0) rx.atLeast(static_cast<size_t>(n));
    }
    if (n >= 0) n = recv(fd_, rx.data(), rx.size(), MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR) continue;
      // ENOBUFS here means replies were dropped: fail what is still open
      // rather than wait for acks that will never come.
      return fail(reqs, from, to, errno, errno == ENOBUFS ? "netlink replies were dropped (receive buffer overrun)" : "recv(netlink) failed");
    }
    if (static_cast<size_t>(n) > rx.size()) {
      rx.atLeast(static_cast<size_t>(n));
      if (dump) {
        // Part of the dump is lost: read on to its end, then transact runs it again.
        reqs[from].reply.interrupted = true;
        continue;
      }
      // An ack larger than the buffer: what it held is gone. Say so (the
      // buffer has grown for next time).
      return fail(reqs, from, to, EMSGSIZE, "a netlink reply was truncated by the receive buffer (it has been enlarged; retry)");
    }
    size_t left = static_cast<size_t>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(rx.data()); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_pid != portid_) continue;
      uint32_t k = h->nlmsg_seq - first;
      if (k >= to - from || seqOf(from + k) != h->nlmsg_seq) continue;  // stale: an earlier, failed exchange
      // The kernel answers in order: whatever answers request k settles
      // the silent (no NLM_F_ACK) requests before it as successes.
      for (; silent < from + k; silent++) {
        auto* s = reinterpret_cast<nlmsghdr*>(buf.data() + reqs[silent].offset);
        if ((s->nlmsg_flags & NLM_F_ACK) || reqs[silent].reply.done) continue;
        reqs[silent].reply.done = true;
        open--;
      }
      Pending& p = reqs[from + k];
      Reply& r = p.reply;
      if (r.done) continue;
      if (h->nlmsg_flags & NLM_F_DUMP_INTR) r.interrupted = true;
      const uint8_t* payload = static_cast<const uint8_t*>(NLMSG_DATA(h));
      size_t plen = h->nlmsg_len - NLMSG_HDRLEN;
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* e = reinterpret_cast<const nlmsgerr*>(payload);
        r.error = plen >= sizeof(int) ? -e->error : EPROTO;
        if (h->nlmsg_flags & NLM_F_ACK_TLVS) {
          size_t skip = sizeof(nlmsgerr);
          if (!(h->nlmsg_flags & NLM_F_CAPPED)) skip += e->msg.nlmsg_len - NLMSG_HDRLEN;
          if (skip < plen) readExtAck(payload + skip, plen - skip, r);
        }
      } else if (h->nlmsg_type == NLMSG_DONE) {
        int err = 0;
        if (plen >= sizeof err) std::memcpy(&err, payload, sizeof err);
        r.error = -err;
        if ((h->nlmsg_flags & NLM_F_ACK_TLVS) && plen > sizeof err)
          readExtAck(payload + sizeof err, plen - sizeof err, r);
      } else {
        r.data.insert(r.data.end(), reinterpret_cast<const uint8_t*>(h),
                      reinterpret_cast<const uint8_t*>(h) + NLMSG_ALIGN(h->nlmsg_len));
        continue;
      }
      // A dump also ends with NLMSG_ERROR when it could not start.
      r.done = true;
      open--;
    }
  }
}

}  // namespace rtnl
