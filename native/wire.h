// Netlink wire primitives: a writer that appends messages and attributes to a
// caller-owned byte buffer (libmnl style: no object model), and a walker over
// the attributes of a received message.
#pragma once

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace rtnl {

class MsgWriter {
 public:
  // Starts a message; the fixed header T (ifinfomsg, rtmsg...) follows,
  // zero-filled, and is returned for the caller to fill in.
  template <typename T>
  T* begin(uint16_t type, uint16_t flags, uint32_t seq) {
    start_ = buf_.size();
    grow(NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(T)));
    auto* h = hdr();
    h->nlmsg_type = type;
    h->nlmsg_flags = flags;
    h->nlmsg_seq = seq;
    return reinterpret_cast<T*>(buf_.data() + start_ + NLMSG_HDRLEN);
  }

  // Seals the current message by writing its final length.
  void end() { hdr()->nlmsg_len = static_cast<uint32_t>(buf_.size() - start_); }

  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf_.data() + start_); }

  void put(uint16_t type, const void* data, size_t len) {
    size_t at = buf_.size();
    grow(RTA_SPACE(len));
    auto* a = reinterpret_cast<rtattr*>(buf_.data() + at);
    a->rta_type = type;
    a->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
    if (len) std::memcpy(RTA_DATA(a), data, len);
  }
  template <typename T>
  void put(uint16_t type, T v) { put(type, &v, sizeof v); }
  void putFlag(uint16_t type) { put(type, nullptr, 0); }
  // Strings go out NUL-terminated, as the kernel's NLA_STRING policy expects.
  void putStr(uint16_t type, std::string_view s) {
    size_t at = buf_.size();
    grow(RTA_SPACE(s.size() + 1));
    auto* a = reinterpret_cast<rtattr*>(buf_.data() + at);
    a->rta_type = type;
    a->rta_len = static_cast<uint16_t>(RTA_LENGTH(s.size() + 1));
    std::memcpy(RTA_DATA(a), s.data(), s.size());
  }

  // A nest without NLA_F_NESTED, as iproute2's addattr_nest writes it: the
  // kernel parses rtnetlink nests either way, and requests stay
  // byte-identical to iproute2's.
  size_t nestBegin(uint16_t type) {
    size_t at = buf_.size();
    put(type, nullptr, 0);
    return at;
  }
  void nestEnd(size_t at) {
    reinterpret_cast<rtattr*>(buf_.data() + at)->rta_len = static_cast<uint16_t>(buf_.size() - at);
  }
  // Closes a nest, or removes it if nothing was put in it: some drivers
  // (bridge) refuse an empty IFLA_INFO_DATA, and iproute2 never sends one.
  void nestEndOrDrop(size_t at) {
    if (buf_.size() == at + RTA_LENGTH(0)) buf_.resize(at);
    else nestEnd(at);
  }

  // Appends a raw, already aligned struct (e.g. the ifinfomsg of a veth peer).
  template <typename T>
  T* putStruct() {
    size_t at = buf_.size();
    grow(NLMSG_ALIGN(sizeof(T)));
    return reinterpret_cast<T*>(buf_.data() + at);
  }

  std::vector<uint8_t>& bytes() { return buf_; }

 private:
  void grow(size_t n) { buf_.resize(buf_.size() + n, 0); }
  std::vector<uint8_t> buf_;
  size_t start_ = 0;
};

// Iterates attributes in [data, data+len): for (auto a : Attrs(p, n)) ...
class Attrs {
 public:
  Attrs(const void* data, size_t len) : p_(static_cast<const uint8_t*>(data)), len_(len) {}
  static Attrs of(const rtattr* nest) { return Attrs(RTA_DATA(nest), RTA_PAYLOAD(nest)); }

  class It {
   public:
    It(const uint8_t* p, size_t left) : p_(p), left_(left) { check(); }
    const rtattr* operator*() const { return reinterpret_cast<const rtattr*>(p_); }
    It& operator++() {
      size_t step = RTA_ALIGN((*this)->rta_len);
      if (step > left_) step = left_;
      p_ += step;
      left_ -= step;
      check();
      return *this;
    }
    bool operator!=(const It& o) const { return left_ != o.left_; }
    const rtattr* operator->() const { return **this; }

   private:
    // A malformed length ends the walk instead of reading past the buffer.
    void check() {
      if (left_ < sizeof(rtattr) || (*this)->rta_len < sizeof(rtattr) || (*this)->rta_len > left_) left_ = 0;
    }
    const uint8_t* p_;
    size_t left_;
  };
  It begin() const { return It(p_, len_); }
  It end() const { return It(p_ + len_, 0); }

 private:
  const uint8_t* p_;
  size_t len_;
};

inline uint16_t attrType(const rtattr* a) { return a->rta_type & NLA_TYPE_MASK; }

template <typename T>
T attrGet(const rtattr* a) {
  T v{};
  std::memcpy(&v, RTA_DATA(a), RTA_PAYLOAD(a) < sizeof v ? RTA_PAYLOAD(a) : sizeof v);
  return v;
}

inline std::string_view attrStr(const rtattr* a) {
  const char* s = static_cast<const char*>(RTA_DATA(a));
  return std::string_view(s, strnlen(s, RTA_PAYLOAD(a)));
}

}  // namespace rtnl
