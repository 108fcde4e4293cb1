// A NETLINK_ROUTE socket bound to the network namespace it was opened in, and
// the one receive loop that matches every reply to its request.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace rtnl {

// Everything the kernel answered to one request.
struct Reply {
  int error = 0;                // errno (positive) or 0
  std::string extack;           // NLMSGERR_ATTR_MSG, when the kernel gave one
  int64_t extackOffset = -1;    // NLMSGERR_ATTR_OFFS: byte offset of the bad attribute
  std::vector<uint8_t> data;    // the NEW* messages, back to back, each aligned
  bool interrupted = false;     // a message carried NLM_F_DUMP_INTR
  bool done = false;
};

// One request inside a send buffer.
struct Pending {
  size_t offset = 0, len = 0;   // where its message lies in the buffer
  bool dump = false;
  bool data = false;            // answered with messages (get, dump, echo), not just an ack
  Reply reply;
};

class NlSocket {
 public:
  // Opens a socket in the namespace of nsFd (-1: the calling thread's own).
  static std::shared_ptr<NlSocket> open(int nsFd);
  ~NlSocket();

  uint32_t nextSeq() { return seq_.fetch_add(1, std::memory_order_relaxed); }

  // Sends every message of buf and fills in each request's reply: plain
  // requests are pipelined in windows (many messages per sendmsg, then their
  // acks); a dump is sent alone and retried when the kernel flags it as
  // interrupted. Serialised per socket, so the threadpool and the main
  // thread can share one.
  void transact(std::vector<uint8_t>& buf, std::vector<Pending>& reqs);

  void close();
  bool closed() const { return fd_ < 0; }

  // Splits reqs into exchanges, as transact sends them: a dump alone, or a
  // window of plain requests. Inside a window only the last request and
  // those answered with data keep NLM_F_ACK (cleared in buf): the kernel
  // answers a failing request with NLMSG_ERROR whatever its flags, and the
  // window's last ack confirms every silent request before it.
  static std::vector<std::pair<size_t, size_t>> windows(std::vector<uint8_t>& buf, std::vector<Pending>& reqs);

 private:
  explicit NlSocket(int fd, uint32_t portid);
  void exchange(std::vector<uint8_t>& buf, std::vector<Pending>& reqs, size_t from, size_t to);
  void fail(std::vector<Pending>& reqs, size_t from, size_t to, int err, const char* why);

  std::mutex mu_;
  int fd_;
  uint32_t portid_;
  std::atomic<uint32_t> seq_;
};

}  // namespace rtnl
