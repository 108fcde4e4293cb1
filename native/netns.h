// Network-namespace syscalls: switching a thread in and out, opening and
// identifying namespaces, and named namespaces the way `ip netns` keeps them.
#pragma once

#include <cstdint>
#include <string>

namespace rtnl {

// Moves the calling thread into the network namespace of nsFd for the
// lifetime of the object (nsFd < 0: stays put). The destructor moves it
// back; if that ever fails the process aborts rather than run on in the
// wrong namespace.
class NsSwitch {
 public:
  explicit NsSwitch(int nsFd);
  ~NsSwitch();
  NsSwitch(const NsSwitch&) = delete;
  NsSwitch& operator=(const NsSwitch&) = delete;

  // Remembers the thread's namespace without leaving it: the destructor
  // returns there from wherever the thread went meanwhile (unshare).
  static constexpr struct Here {} kHere{};
  explicit NsSwitch(Here);

 private:
  int orig_ = -1;
};

// Opens path and checks that it is a network namespace (EINVAL otherwise).
int nsOpen(const std::string& path);
// The namespace's inode number: its identity, as `ls -i` / `ip netns identify` see it.
uint64_t nsInode(int fd);
// `ip netns add`: dir becomes a shared mount, dir/name a bind mount of a new
// namespace. Returns an fd of the new namespace (the caller closes it).
int nsCreateNamed(const std::string& dir, const std::string& name);
// `ip netns delete`: detach the bind mount and remove the file.
void nsDeleteNamed(const std::string& dir, const std::string& name);

}  // namespace rtnl
