#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <system_error>

namespace rtnl {

namespace {

[[noreturn]] void fail(const std::string& what) { throw std::system_error(errno, std::generic_category(), what); }

// The thread's own namespace: /proc/self would name the main thread's.
constexpr const char* kThreadNs = "/proc/thread-self/ns/net";

}  // namespace

NsSwitch::NsSwitch(int nsFd) {
  if (nsFd < 0) return;
  orig_ = open(kThreadNs, O_RDONLY | O_CLOEXEC);
  if (orig_ < 0) fail("open(/proc/thread-self/ns/net)");
  if (setns(nsFd, CLONE_NEWNET) < 0) {
    int e = errno;
    close(orig_);
    orig_ = -1;
    errno = e;
    fail("setns");
  }
}

NsSwitch::~NsSwitch() {
  if (orig_ < 0) return;
  if (setns(orig_, CLONE_NEWNET) < 0) {
    std::perror("rtnl: cannot return the thread to its network namespace");
    std::abort();
  }
  close(orig_);
}

int nsOpen(const std::string& path) {
  // O_NONBLOCK: a FIFO at the path must fail the type check below, not block the thread in open().
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail("open " + path);
  struct statfs sf;
  if (fstatfs(fd, &sf) < 0 || sf.f_type != NSFS_MAGIC || ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET) {
    close(fd);
    errno = EINVAL;
    fail(path + " is not a network namespace");
  }
  return fd;
}

uint64_t nsInode(int fd) {
  struct stat st;
  if (fstat(fd, &st) < 0) fail("fstat");
  return st.st_ino;
}

void nsCreateNamed(const std::string& dir, const std::string& name) {
  if (mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST) fail("mkdir " + dir);
  // As iproute2 does: make dir a shared mount point (bind it onto itself the
  // first time) so namespaces mounted here show in every mount namespace.
  if (mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) < 0) {
    if (errno != EINVAL) fail("mount --make-rshared " + dir);
    if (mount(dir.c_str(), dir.c_str(), "none", MS_BIND | MS_REC, nullptr) < 0) fail("mount --bind " + dir);
    if (mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) < 0) fail("mount --make-rshared " + dir);
  }
  std::string path = dir + "/" + name;
  int fd = open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) fail("create " + path);
  close(fd);
  int self = nsOpen(kThreadNs);
  try {
    NsSwitch back(self);  // a no-op switch whose destructor undoes the unshare
    if (unshare(CLONE_NEWNET) < 0) fail("unshare(CLONE_NEWNET)");
    if (mount(kThreadNs, path.c_str(), "none", MS_BIND, nullptr) < 0) fail("mount --bind " + path);
  } catch (...) {
    close(self);
    unlink(path.c_str());
    throw;
  }
  close(self);
}

void nsDeleteNamed(const std::string& dir, const std::string& name) {
  std::string path = dir + "/" + name;
  if (umount2(path.c_str(), MNT_DETACH) < 0 && errno != EINVAL) fail("umount " + path);
  if (unlink(path.c_str()) < 0) fail("unlink " + path);
}

}  // namespace rtnl
