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
#include <mutex>
#include <system_error>
#include <unordered_set>

namespace rtnl {

namespace {

[[noreturn]] void fail(const std::string& what) { throw std::system_error(errno, std::generic_category(), what); }

// The thread's own namespace: /proc/self would name the main thread's.
constexpr const char* kThreadNs = "/proc/thread-self/ns/net";

int openThreadNs() {
  int fd = open(kThreadNs, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("open(/proc/thread-self/ns/net)");
  return fd;
}

}  // namespace

NsSwitch::NsSwitch(Here) : orig_(openThreadNs()) {}

NsSwitch::NsSwitch(int nsFd) {
  if (nsFd < 0) return;
  orig_ = openThreadNs();
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

namespace {

// Makes dir and every mount below it shared, as iproute2 does, so that
// namespaces mounted there (and their unmounting) propagate to every mount
// namespace. MS_REC walks every namespace already mounted below, a cost
// growing with their number: once this process has done it for dir, the
// mounts made there since are shared already (a mount under a shared one
// is), and a plain MS_SHARED keeps dir itself so in one step.
void shareDir(const std::string& dir) {
  static std::mutex mu;
  static std::unordered_set<std::string> done;
  std::lock_guard<std::mutex> g(mu);
  int rec = done.count(dir) ? 0 : MS_REC;
  if (mount("", dir.c_str(), "none", MS_SHARED | rec, nullptr) < 0) {
    // ENOENT: no dir yet; EINVAL: not a mount point yet: bind it onto itself first.
    if (errno == ENOENT) {
      if (mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST) fail("mkdir " + dir);
    } else if (errno != EINVAL) {
      fail("mount --make-rshared " + dir);
    }
    if (mount(dir.c_str(), dir.c_str(), "none", MS_BIND | MS_REC, nullptr) < 0) fail("mount --bind " + dir);
    if (mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) < 0) fail("mount --make-rshared " + dir);
  }
  done.insert(dir);
}

}  // namespace

int nsCreateNamed(const std::string& dir, const std::string& name) {
  shareDir(dir);
  std::string path = dir + "/" + name;
  int fd = open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) fail("create " + path);
  close(fd);
  int ns = -1;
  try {
    NsSwitch back(NsSwitch::kHere);  // undoes the unshare
    if (unshare(CLONE_NEWNET) < 0) fail("unshare(CLONE_NEWNET)");
    ns = openThreadNs();  // the new namespace, opened from inside: path need not be looked up and checked
    if (mount(kThreadNs, path.c_str(), "none", MS_BIND, nullptr) < 0) fail("mount --bind " + path);
  } catch (...) {
    if (ns >= 0) close(ns);
    unlink(path.c_str());
    throw;
  }
  return ns;
}

void nsDeleteNamed(const std::string& dir, const std::string& name) {
  std::string path = dir + "/" + name;
  if (umount2(path.c_str(), MNT_DETACH) < 0 && errno != EINVAL) fail("umount " + path);
  if (unlink(path.c_str()) < 0) fail("unlink " + path);
}

}  // namespace rtnl
