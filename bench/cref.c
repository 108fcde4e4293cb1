// The C reference for rtnl's benches: the same kernel work as each bench
// (bench-anchors W1 pod setup, W2 VXLAN peers, W3 dumps, socket set-up in a
// namespace) done with libmnl, one request + ack at a time ("sync") or
// pipelined ("pipe": a window of requests per send, NLM_F_ACK on the last
// of each window only; a failing request still answers with NLMSG_ERROR).
// Built by bench/cref.ts with gcc; prints its own timing as one JSON line.
//
//   cref pods sync|pipe N PREFIX BRIDGE_IFINDEX   PREFIX-i namespaces + veths (in the caller's namespace)
//   cref overlay-add|overlay-del sync|pipe N VXLAN_IFINDEX
//   cref dump links|routes|neighs REPS           median ms of REPS dumps parsed into structs
//   cref sockets N NETNS_PATH                     µs per socket opened in (and closed) NETNS_PATH
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WINDOW_MSGS 256
#define WINDOW_BYTES (64 * 1024)

static void die(const char *what) {
  perror(what);
  exit(1);
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

// CPU time (user + system) this process has used, in µs: reported beside the
// wall time so a run slowed by others' load can be told from real cost.
static double cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

// A NETLINK_ROUTE socket created in nsfd's namespace (-1: this one).
static struct mnl_socket *open_in(int nsfd) {
  int self = -1;
  if (nsfd >= 0) {
    self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0 || setns(nsfd, CLONE_NEWNET) < 0) die("setns");
  }
  struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
  if (!nl) die("mnl_socket_open");
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) die("mnl_socket_bind");
  if (self >= 0) {
    if (setns(self, CLONE_NEWNET) < 0) die("setns back");
    close(self);
  }
  return nl;
}

// The requests of one exchange, back to back; seqs from 1 per socket.
struct Out {
  char buf[WINDOW_BYTES + 4096];
  size_t len;
  unsigned n;
  uint32_t seq;
};

static struct nlmsghdr *put(struct Out *o, uint16_t type, uint16_t flags) {
  struct nlmsghdr *h = mnl_nlmsg_put_header(o->buf + o->len);
  h->nlmsg_type = type;
  h->nlmsg_flags = NLM_F_REQUEST | flags;
  h->nlmsg_seq = ++o->seq;
  return h;
}

static void done(struct Out *o, struct nlmsghdr *h) {
  o->len += h->nlmsg_len;
  o->n++;
}

// Reads until the ack of seq `last`; any error is fatal (the benches expect none).
static void wait_ack(struct mnl_socket *nl, uint32_t last) {
  static char rx[32 * 1024];
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl, rx, sizeof rx);
    if (n < 0) die("recv");
    for (struct nlmsghdr *h = (struct nlmsghdr *)rx; mnl_nlmsg_ok(h, n); h = mnl_nlmsg_next(h, (int *)&n)) {
      if (h->nlmsg_type != NLMSG_ERROR) continue;
      struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
      if (e->error) {
        errno = -e->error;
        fprintf(stderr, "request %u: ", h->nlmsg_seq);
        die("kernel");
      }
      if (h->nlmsg_seq == last) return;
    }
  }
}

// Sends what o holds; the last request carries NLM_F_ACK and is waited for.
static void flush(struct mnl_socket *nl, struct Out *o, struct nlmsghdr *last) {
  if (!o->n) return;
  last->nlmsg_flags |= NLM_F_ACK;
  if (mnl_socket_sendto(nl, o->buf, o->len) < 0) die("send");
  wait_ack(nl, last->nlmsg_seq);
  o->len = 0;
  o->n = 0;
}

// sync: every request alone; pipe: a window at a time.
static int g_pipe;
static struct nlmsghdr *g_last;
static void submit(struct mnl_socket *nl, struct Out *o, struct nlmsghdr *h) {
  done(o, h);
  g_last = h;
  if (!g_pipe || o->n == WINDOW_MSGS || o->len > WINDOW_BYTES - 1024) flush(nl, o, h);
}

// ---- W1 pod setup ----

static void netns_add(const char *path) {
  int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) die(path);
  close(fd);
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (unshare(CLONE_NEWNET) < 0) die("unshare");
  if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0) die("mount");
  if (setns(self, CLONE_NEWNET) < 0) die("setns back");
  close(self);
}

static uint32_t pod_ip(int i) { return htonl((10u << 24) | (99u << 16) | (uint32_t)(i + 2)); }

static void veth_add(struct Out *o, struct mnl_socket *nl, int i, int nsfd, int br) {
  struct nlmsghdr *h = put(o, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof *ifi);
  ifi->ifi_flags = ifi->ifi_change = IFF_UP;
  char name[16];
  snprintf(name, sizeof name, "vh-%d", i);
  mnl_attr_put_u32(h, IFLA_MTU, 1450);
  mnl_attr_put_u32(h, IFLA_MASTER, br);
  mnl_attr_put_strz(h, IFLA_IFNAME, name);
  struct nlattr *info = mnl_attr_nest_start(h, IFLA_LINKINFO);
  mnl_attr_put(h, IFLA_INFO_KIND, 4, "veth");
  struct nlattr *data = mnl_attr_nest_start(h, IFLA_INFO_DATA);
  struct nlattr *peer = mnl_attr_nest_start(h, VETH_INFO_PEER);
  h->nlmsg_len += sizeof(struct ifinfomsg);
  memset((char *)h + h->nlmsg_len - sizeof(struct ifinfomsg), 0, sizeof(struct ifinfomsg));
  mnl_attr_put_u32(h, IFLA_MTU, 1450);
  mnl_attr_put_u32(h, IFLA_NET_NS_FD, nsfd);
  mnl_attr_put_strz(h, IFLA_IFNAME, "eth0");
  mnl_attr_nest_end(h, peer);
  mnl_attr_nest_end(h, data);
  mnl_attr_nest_end(h, info);
  submit(nl, o, h);
}

static void link_up(struct Out *o, struct mnl_socket *nl, int index) {
  struct nlmsghdr *h = put(o, RTM_NEWLINK, 0);
  struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof *ifi);
  ifi->ifi_index = index;
  ifi->ifi_flags = ifi->ifi_change = IFF_UP;
  submit(nl, o, h);
}

// In the pod: eth0 (ifindex 2: the first link after lo) gets its address, comes up, lo up, default route.
static void pod_inside(struct Out *o, struct mnl_socket *nl, int i) {
  struct nlmsghdr *h = put(o, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
  struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(h, sizeof *ifa);
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = 16;
  ifa->ifa_index = 2;
  mnl_attr_put_u32(h, IFA_LOCAL, pod_ip(i));
  mnl_attr_put_u32(h, IFA_ADDRESS, pod_ip(i));
  submit(nl, o, h);
  link_up(o, nl, 2);
  link_up(o, nl, 1);
  h = put(o, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
  struct rtmsg *rtm = mnl_nlmsg_put_extra_header(h, sizeof *rtm);
  rtm->rtm_family = AF_INET;
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_protocol = RTPROT_BOOT;
  rtm->rtm_type = RTN_UNICAST;
  rtm->rtm_scope = RT_SCOPE_UNIVERSE;
  mnl_attr_put_u32(h, RTA_GATEWAY, htonl((10u << 24) | (99u << 16) | 1));
  submit(nl, o, h);
}

static void pods(int n, const char *prefix, int br) {
  struct mnl_socket *host = open_in(-1);
  static struct Out ho, po;
  int *fds = calloc(n, sizeof *fds);
  struct mnl_socket **socks = calloc(n, sizeof *socks);
  uint32_t *lasts = calloc(n, sizeof *lasts);
  double t0 = now_us(), c0 = cpu_us();
  for (int i = 0; i < n; i++) {
    char path[256];
    snprintf(path, sizeof path, "/run/netns/%s-%d", prefix, i);
    netns_add(path);
    fds[i] = open(path, O_RDONLY | O_CLOEXEC);
    if (fds[i] < 0) die(path);
    veth_add(&ho, host, i, fds[i], br);
    if (g_pipe) continue;
    struct mnl_socket *pod = open_in(fds[i]);
    po.seq = 0;
    pod_inside(&po, pod, i);
    mnl_socket_close(pod);
    close(fds[i]);
  }
  if (g_pipe) {
    flush(host, &ho, g_last);
    // Every pod's four requests sent on its own socket, then every ack read.
    for (int i = 0; i < n; i++) {
      socks[i] = open_in(fds[i]);
      po.seq = 0;
      pod_inside(&po, socks[i], i);
      g_last->nlmsg_flags |= NLM_F_ACK;
      if (mnl_socket_sendto(socks[i], po.buf, po.len) < 0) die("send");
      lasts[i] = g_last->nlmsg_seq;
      po.len = po.n = 0;
    }
    for (int i = 0; i < n; i++) {
      wait_ack(socks[i], lasts[i]);
      mnl_socket_close(socks[i]);
      close(fds[i]);
    }
  }
  printf("{\"us\":%.1f,\"cpuUs\":%.1f}\n", now_us() - t0, cpu_us() - c0);
}

// ---- W2 overlay (the same addresses as bench/overlay.ts) ----

static uint32_t ov_vtep(int i) { return htonl((10u << 24) | ((1u + i / 250) << 16) | ((uint32_t)(i % 250) << 8)); }
static uint32_t ov_underlay(int i) { return htonl((192u << 24) | (168u << 16) | ((1u + i / 250) << 8) | (1u + i % 250)); }
static void ov_mac(int i, uint8_t m[6]) {
  uint8_t v[6] = {0x02, 0x42, 0x0a, 0x00, (uint8_t)(1 + i / 250), (uint8_t)(i % 250)};
  memcpy(m, v, 6);
}

static void neigh(struct Out *o, struct mnl_socket *nl, int i, int vx, int add) {
  struct nlmsghdr *h = put(o, add ? RTM_NEWNEIGH : RTM_DELNEIGH, add ? NLM_F_CREATE | NLM_F_EXCL : 0);
  struct ndmsg *ndm = mnl_nlmsg_put_extra_header(h, sizeof *ndm);
  ndm->ndm_family = AF_INET;
  ndm->ndm_ifindex = vx;
  if (add) ndm->ndm_state = NUD_PERMANENT;
  mnl_attr_put_u32(h, NDA_DST, ov_vtep(i));
  if (add) {
    uint8_t m[6];
    ov_mac(i, m);
    mnl_attr_put(h, NDA_LLADDR, 6, m);
  }
  submit(nl, o, h);
}

static void fdb(struct Out *o, struct mnl_socket *nl, int i, int vx, int add) {
  struct nlmsghdr *h = put(o, add ? RTM_NEWNEIGH : RTM_DELNEIGH, add ? NLM_F_CREATE | NLM_F_EXCL : 0);
  struct ndmsg *ndm = mnl_nlmsg_put_extra_header(h, sizeof *ndm);
  ndm->ndm_family = AF_BRIDGE;
  ndm->ndm_ifindex = vx;
  ndm->ndm_flags = NTF_SELF;
  if (add) ndm->ndm_state = NUD_PERMANENT;
  uint8_t m[6];
  ov_mac(i, m);
  mnl_attr_put(h, NDA_LLADDR, 6, m);
  mnl_attr_put_u32(h, NDA_DST, ov_underlay(i));
  submit(nl, o, h);
}

static void route(struct Out *o, struct mnl_socket *nl, int i, int vx, int add) {
  struct nlmsghdr *h = put(o, add ? RTM_NEWROUTE : RTM_DELROUTE, add ? NLM_F_CREATE | NLM_F_EXCL : 0);
  struct rtmsg *rtm = mnl_nlmsg_put_extra_header(h, sizeof *rtm);
  rtm->rtm_family = AF_INET;
  rtm->rtm_dst_len = 24;
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_scope = RT_SCOPE_NOWHERE;
  if (add) {
    rtm->rtm_protocol = RTPROT_BOOT;
    rtm->rtm_type = RTN_UNICAST;
    rtm->rtm_scope = RT_SCOPE_UNIVERSE;
    rtm->rtm_flags = RTNH_F_ONLINK;
  }
  mnl_attr_put_u32(h, RTA_DST, ov_vtep(i));
  mnl_attr_put_u32(h, RTA_OIF, vx);
  mnl_attr_put_u32(h, RTA_GATEWAY, ov_vtep(i));
  submit(nl, o, h);
}

static void overlay(int n, int vx, int add) {
  struct mnl_socket *nl = open_in(-1);
  static struct Out o;
  double t0 = now_us(), c0 = cpu_us();
  for (int i = 0; i < n; i++) {
    if (add) {
      neigh(&o, nl, i, vx, 1);
      fdb(&o, nl, i, vx, 1);
      route(&o, nl, i, vx, 1);
    } else {
      route(&o, nl, i, vx, 0);
      fdb(&o, nl, i, vx, 0);
      neigh(&o, nl, i, vx, 0);
    }
  }
  flush(nl, &o, g_last);
  printf("{\"us\":%.1f,\"cpuUs\":%.1f}\n", now_us() - t0, cpu_us() - c0);
}

// ---- W3 dumps: every message's attributes indexed and copied into a struct ----

struct Obj {
  int index, family, prefix;
  unsigned flags, mtu, master, oif, state;
  char name[16];
  uint8_t lladdr[32], addr[16], gw[16];
};

static struct Obj *g_objs;
static size_t g_count, g_cap;

static int attr_cb(const struct nlattr *a, void *data) {
  const struct nlattr **tb = data;
  int type = mnl_attr_get_type(a);
  if (type <= 64) tb[type] = a;
  return MNL_CB_OK;
}

static void copy(void *dst, const struct nlattr *a, size_t max) {
  size_t n = mnl_attr_get_payload_len(a);
  memcpy(dst, mnl_attr_get_payload(a), n < max ? n : max);
}

static int msg_cb(const struct nlmsghdr *h, void *kind) {
  const struct nlattr *tb[65] = {0};
  if (g_count == g_cap) g_objs = realloc(g_objs, (g_cap = g_cap ? 2 * g_cap : 1024) * sizeof *g_objs);
  struct Obj *o = &g_objs[g_count];
  memset(o, 0, sizeof *o);
  switch (*(char *)kind) {
    case 'l': {
      struct ifinfomsg *ifi = mnl_nlmsg_get_payload(h);
      mnl_attr_parse(h, sizeof *ifi, attr_cb, tb);
      o->index = ifi->ifi_index;
      o->flags = ifi->ifi_flags;
      if (tb[IFLA_IFNAME]) copy(o->name, tb[IFLA_IFNAME], 15);
      if (tb[IFLA_MTU]) o->mtu = mnl_attr_get_u32(tb[IFLA_MTU]);
      if (tb[IFLA_MASTER]) o->master = mnl_attr_get_u32(tb[IFLA_MASTER]);
      if (tb[IFLA_ADDRESS]) copy(o->lladdr, tb[IFLA_ADDRESS], 32);
      break;
    }
    case 'r': {
      struct rtmsg *rtm = mnl_nlmsg_get_payload(h);
      if (rtm->rtm_flags & RTM_F_CLONED) return MNL_CB_OK;
      mnl_attr_parse(h, sizeof *rtm, attr_cb, tb);
      o->family = rtm->rtm_family;
      o->prefix = rtm->rtm_dst_len;
      if (tb[RTA_DST]) copy(o->addr, tb[RTA_DST], 16);
      if (tb[RTA_GATEWAY]) copy(o->gw, tb[RTA_GATEWAY], 16);
      if (tb[RTA_OIF]) o->oif = mnl_attr_get_u32(tb[RTA_OIF]);
      break;
    }
    default: {
      struct ndmsg *ndm = mnl_nlmsg_get_payload(h);
      mnl_attr_parse(h, sizeof *ndm, attr_cb, tb);
      o->family = ndm->ndm_family;
      o->index = ndm->ndm_ifindex;
      o->state = ndm->ndm_state;
      if (tb[NDA_DST]) copy(o->addr, tb[NDA_DST], 16);
      if (tb[NDA_LLADDR]) copy(o->lladdr, tb[NDA_LLADDR], 32);
    }
  }
  g_count++;
  return MNL_CB_OK;
}

// One dump as rtnl's list verbs ask for it (links: no statistics), parsed; returns ms.
static double dump_once(struct mnl_socket *nl, char kind, uint32_t seq) {
  static char buf[64 * 1024];
  struct nlmsghdr *h = mnl_nlmsg_put_header(buf);
  h->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  h->nlmsg_seq = seq;
  if (kind == 'l') {
    h->nlmsg_type = RTM_GETLINK;
    mnl_nlmsg_put_extra_header(h, sizeof(struct ifinfomsg));
    mnl_attr_put_u32(h, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  } else if (kind == 'r') {
    h->nlmsg_type = RTM_GETROUTE;
    struct rtmsg *rtm = mnl_nlmsg_put_extra_header(h, sizeof *rtm);
    rtm->rtm_family = AF_INET;  // `ip route`: IPv4, the main table (filtered by the kernel: strict checking)
    rtm->rtm_table = RT_TABLE_MAIN;
  } else {
    h->nlmsg_type = RTM_GETNEIGH;
    mnl_nlmsg_put_extra_header(h, sizeof(struct ndmsg));
  }
  g_count = 0;
  double t0 = now_us();
  if (mnl_socket_sendto(nl, buf, h->nlmsg_len) < 0) die("send");
  int ret;
  do {
    ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);
    if (n < 0) die("recv");
    ret = mnl_cb_run(buf, n, seq, mnl_socket_get_portid(nl), msg_cb, &kind);
  } while (ret > 0);
  if (ret < 0) die("dump");
  return (now_us() - t0) / 1e3;
}

static void dump(char kind, int reps) {
  struct mnl_socket *nl = open_in(-1);
  int on = 1;
  if (setsockopt(mnl_socket_get_fd(nl), SOL_NETLINK, NETLINK_GET_STRICT_CHK, &on, sizeof on) < 0) die("strict");
  dump_once(nl, kind, 1);  // warm-up, as the rtnl side
  double *ms = calloc(reps, sizeof *ms);
  for (int i = 0; i < reps; i++) ms[i] = dump_once(nl, kind, 2 + i);
  qsort(ms, reps, sizeof *ms, cmp_double);
  printf("{\"ms\":%.3f,\"count\":%zu}\n", reps % 2 ? ms[reps / 2] : (ms[reps / 2 - 1] + ms[reps / 2]) / 2, g_count);
}

// ---- socket set-up in a namespace (what `new Handle(netns)` does) ----

static void sockets(int n, const char *path) {
  double t0 = now_us();
  for (int i = 0; i < n; i++) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(path);
    mnl_socket_close(open_in(fd));
    close(fd);
  }
  printf("{\"us\":%.2f}\n", (now_us() - t0) / n);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: see bench/cref.c\n");
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "dump")) dump(argv[2][0], atoi(argv[3]));
  else if (!strcmp(cmd, "sockets")) sockets(atoi(argv[2]), argv[3]);
  else {
    if (argc < 5) return 2;
    g_pipe = !strcmp(argv[2], "pipe");
    int n = atoi(argv[3]);
    if (!strcmp(cmd, "pods") && argc == 6) pods(n, argv[4], atoi(argv[5]));
    else if (!strcmp(cmd, "overlay-add")) overlay(n, atoi(argv[4]), 1);
    else if (!strcmp(cmd, "overlay-del")) overlay(n, atoi(argv[4]), 0);
    else return 2;
  }
  return 0;
}
