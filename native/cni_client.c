/*
 * rtnl-cni-client: installed as the `rtnl` CNI plugin. Hands the invocation
 * (CNI_* environment, stdin) to a resident rtnl-cni-daemon over a unix
 * socket and relays its answer, so a pod's ADD or DEL costs no Node.js
 * start-up. When there is no daemon, the daemon answers "fallback" (it
 * serves only root callers in its own namespaces, which it learns from the
 * kernel, not from us), or the
 * connection breaks before a complete answer, it execs the Node launcher
 * installed next to it (`.<name>-node`) with the same argv and environment and
 * the stdin bytes already read. A complete answer is never run again.
 * Deadlines: connecting and sending the request (a daemon that is stuck, its
 * backlog full) 5 s; the answer RTNL_CNI_TIMEOUT_MS (default 60 s); past
 * either, it falls back as when there is no daemon.
 *
 * VERSION is answered here, without a daemon or Node: the same JSON the Node
 * plugin prints (src/cni/skel.ts), in the config's cniVersion when stdin is a
 * JSON object naming a supported one, else in the newest.
 *
 * Wire format (little-endian; see src/plugin/daemon.ts):
 *   request:  "RTNLCNI1" u32 body-length, body: u32 pid, 32 reserved bytes (zero; they
 *             once carried namespace identities, which a client could forge),
 *             u32 count, count × (u32 len, "KEY=VALUE"), u32 len, stdin
 *   response: 'A' (answer) or 'F' (fallback), u32 exit code, u32 len, stdout
 *   then, after an 'A', one byte from us: 'k' (stdout delivered) or 'u'
 *   (it could not be: the daemon undoes the ADD; we wait until it has).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/rtnl-cni/rtnl.sock"
/* Larger inputs go to the Node plugin, which reads any size (the daemon takes frames up to 1 MiB). */
#define MAX_STDIN (768u << 10)
#define SEND_TIMEOUT_MS 5000
#define ANSWER_TIMEOUT_MS 60000

extern char **environ;
static char **g_argv;

/* A growable byte buffer; on allocation failure `failed` is set and appends stop. */
struct buf {
  unsigned char *p;
  size_t n, cap;
  int failed;
};

static void reserve(struct buf *b, size_t more) {
  if (b->failed || b->n + more <= b->cap) return;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->n + more) cap *= 2;
  unsigned char *p = realloc(b->p, cap);
  if (!p) { b->failed = 1; return; }
  b->p = p;
  b->cap = cap;
}

static void put(struct buf *b, const void *data, size_t n) {
  reserve(b, n);
  if (b->failed) return;
  memcpy(b->p + b->n, data, n);
  b->n += n;
}

static void put_u32(struct buf *b, uint32_t v) {
  unsigned char le[4] = {v, v >> 8, v >> 16, v >> 24};
  put(b, le, 4);
}

static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* write(2) until done; 0 on success. MSG_NOSIGNAL on sockets: a dead peer is EPIPE, not SIGPIPE. */
static int write_all(int fd, const unsigned char *p, size_t n, int sock) {
  while (n > 0) {
    ssize_t w = sock ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Reads exactly n bytes; 0 on success, -1 on error or early EOF. */
static int read_exact(int fd, unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/*
 * Runs the Node plugin in this process's place. `in` holds the stdin bytes
 * already consumed (NULL: stdin untouched); they are handed on in a memfd,
 * which the plugin reads like the original stdin.
 */
static void fallback(const struct buf *in) {
  char self[PATH_MAX], launcher[PATH_MAX + 16];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) goto fail;
  self[n] = '\0';
  char *slash = strrchr(self, '/');
  if (!slash) goto fail;
  *slash = '\0';
  snprintf(launcher, sizeof launcher, "%s/.%s-node", self, slash + 1);
  if (in) {
    int fd = memfd_create("rtnl-cni-stdin", MFD_CLOEXEC);
    if (fd < 0 || write_all(fd, in->p, in->n, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0 || dup2(fd, 0) < 0) goto fail;
    close(fd);
  }
  execv(launcher, g_argv);
  fprintf(stderr, "rtnl: cannot run %s: %s\n", launcher, strerror(errno));
fail:
  printf("{\"cniVersion\":\"1.1.0\",\"code\":999,\"msg\":\"rtnl: cannot start the plugin\"}");
  exit(1);
}

/* ---- VERSION: src/cni/types.ts SUPPORTED_VERSIONS and CURRENT_VERSION ---- */

static const char *const VERSIONS[] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};
#define NVERSIONS (sizeof VERSIONS / sizeof *VERSIONS)

/* A JSON scanner over p[0..n): just enough to validate a document as JSON.parse does. */
struct json {
  const unsigned char *p, *end;
};

static void ws(struct json *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int hex(int c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Scans a string at j->p (its opening quote); copies its ASCII decoding into out (cap bytes) when it fits, else sets out[0] = 1 (no match). 0 if not a valid string. */
static int string(struct json *j, char *out, size_t cap) {
  size_t k = 0;
  int fits = 1;
  if (j->p >= j->end || *j->p != '"') return 0;
  j->p++;
  for (;;) {
    if (j->p >= j->end || *j->p < 0x20) return 0;
    unsigned c = *j->p++;
    if (c == '"') break;
    if (c == '\\') {
      if (j->p >= j->end) return 0;
      c = *j->p++;
      switch (c) {
        case '"': case '\\': case '/': break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
          if (j->end - j->p < 4) return 0;
          unsigned u = 0;
          for (int i = 0; i < 4; i++) {
            int h = hex(j->p[i]);
            if (h < 0) return 0;
            u = u << 4 | (unsigned)h;
          }
          j->p += 4;
          c = u;
          break;
        }
        default: return 0;
      }
    }
    if (c >= 0x80 || k + 1 >= cap) fits = 0; /* nothing we compare with has such characters or length */
    else out[k++] = (char)c;
  }
  out[k] = '\0';
  if (!fits) out[0] = 1, out[1] = '\0';
  return 1;
}

static int literal(struct json *j, const char *w) {
  size_t n = strlen(w);
  if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0) return 0;
  j->p += n;
  return 1;
}

static int digits(struct json *j) {
  const unsigned char *s = j->p;
  while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
  return j->p > s;
}

static int number(struct json *j) {
  if (j->p < j->end && *j->p == '-') j->p++;
  if (j->p < j->end && *j->p == '0') j->p++;
  else if (!digits(j)) return 0;
  if (j->p < j->end && *j->p == '.') { j->p++; if (!digits(j)) return 0; }
  if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
    j->p++;
    if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
    if (!digits(j)) return 0;
  }
  return 1;
}

/*
 * The version VERSION answers in: the cniVersion of a top-level JSON object
 * (the last one given, as JSON.parse keeps) when it is a supported version,
 * else the newest. Iterative, with its own stack: any nesting depth is fine.
 */
static const char *asked_version(const unsigned char *p, size_t n) {
  struct json j = {p, p + n};
  struct buf stack = {0};     /* '{' or '[' per open container */
  const char *ver = NULL, *found = NULL;
  char key[16], val[16];
  int top_key = 0;            /* the value being read is the top-level object's cniVersion */
  ws(&j);
  for (;;) {
    /* a value */
    ws(&j);
    if (j.p >= j.end) goto bad;
    int depth1_cni = top_key;
    top_key = 0;
    if (depth1_cni) found = NULL;
    if (*j.p == '{' || *j.p == '[') {
      unsigned char open = *j.p++;
      put(&stack, &open, 1);
      if (stack.failed) goto bad;
      ws(&j);
      if (j.p < j.end && *j.p == (open == '{' ? '}' : ']')) { j.p++; stack.n--; goto after; }
      if (open == '[') continue;
      goto member;
    } else if (*j.p == '"') {
      if (!string(&j, val, sizeof val)) goto bad;
      if (depth1_cni) for (size_t i = 0; i < NVERSIONS; i++) if (strcmp(val, VERSIONS[i]) == 0) found = VERSIONS[i];
    } else if (!(literal(&j, "true") || literal(&j, "false") || literal(&j, "null") || number(&j))) {
      goto bad;
    }
  after:
    /* after a value: the container's separator or end, or the document's end */
    ws(&j);
    if (stack.n == 0) {
      if (j.p != j.end) goto bad;
      break;
    }
    if (j.p >= j.end) goto bad;
    unsigned char in = stack.p[stack.n - 1];
    if (*j.p == (in == '{' ? '}' : ']')) { j.p++; stack.n--; goto after; }
    if (*j.p != ',') goto bad;
    j.p++;
    if (in == '[') continue;
  member:
    ws(&j);
    if (!string(&j, key, sizeof key)) goto bad;
    ws(&j);
    if (j.p >= j.end || *j.p != ':') goto bad;
    j.p++;
    top_key = stack.n == 1 && strcmp(key, "cniVersion") == 0;
  }
  ver = found;
bad:
  free(stack.p);
  return ver ? ver : VERSIONS[NVERSIONS - 1];
}

/* Answers VERSION as the Node plugin does; stdin that cannot be read counts as empty. */
static int version(void) {
  struct buf in = {0};
  for (;;) {
    reserve(&in, 65536);
    if (in.failed || in.n > MAX_STDIN) { in.n = 0; break; }
    ssize_t r = read(0, in.p + in.n, in.cap - in.n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) { in.n = 0; break; }
    if (r == 0) break;
    in.n += (size_t)r;
  }
  printf("{\"cniVersion\":\"%s\",\"supportedVersions\":[", asked_version(in.p, in.n));
  for (size_t i = 0; i < NVERSIONS; i++) printf("%s\"%s\"", i ? "," : "", VERSIONS[i]);
  printf("]}");
  return fflush(stdout) == 0 ? 0 : 1;
}

static void set_timeout(int s, int opt, long ms) {
  struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
  setsockopt(s, SOL_SOCKET, opt, &tv, sizeof tv);
}

int main(int argc, char **argv) {
  (void)argc;
  g_argv = argv;
  const char *cmd = getenv("CNI_COMMAND");
  if (cmd && strcmp(cmd, "VERSION") == 0) return version();
  const char *path = getenv("RTNL_CNI_SOCKET");
  if (!path || !*path) path = DEFAULT_SOCKET;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) fallback(NULL);
  strcpy(sa.sun_path, path);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) fallback(NULL);
  set_timeout(s, SO_SNDTIMEO, SEND_TIMEOUT_MS); /* bounds connect() on a full backlog, and the request's send */
  const char *t = getenv("RTNL_CNI_TIMEOUT_MS");
  long answer_ms = t && *t ? strtol(t, NULL, 10) : ANSWER_TIMEOUT_MS;
  set_timeout(s, SO_RCVTIMEO, answer_ms > 0 ? answer_ms : ANSWER_TIMEOUT_MS);
  while (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
    if (errno == EISCONN) break; /* an interrupted connect completed meanwhile */
    if (errno != EINTR) fallback(NULL); /* no daemon: stdin is still unread */
  }

  struct buf in = {0};
  for (;;) {
    reserve(&in, 65536);
    if (in.failed || in.n > MAX_STDIN) fallback(&in);
    ssize_t r = read(0, in.p + in.n, in.cap - in.n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EBADF || errno == EINVAL) && in.n == 0) break; /* no stdin (VERSION may come so) */
    if (r < 0) fallback(&in);
    if (r == 0) break;
    in.n += (size_t)r;
  }

  struct buf req = {0};
  put(&req, "RTNLCNI1", 8);
  put_u32(&req, 0); /* body length, set below */
  put_u32(&req, (uint32_t)getpid());
  static const unsigned char reserved[32];
  put(&req, reserved, sizeof reserved);
  uint32_t count = 0;
  for (char **e = environ; *e; e++) count += strncmp(*e, "CNI_", 4) == 0;
  put_u32(&req, count);
  for (char **e = environ; *e; e++) {
    if (strncmp(*e, "CNI_", 4) != 0) continue;
    size_t len = strlen(*e);
    put_u32(&req, (uint32_t)len);
    put(&req, *e, len);
  }
  put_u32(&req, (uint32_t)in.n);
  put(&req, in.p, in.n);
  if (req.failed) fallback(&in);
  uint32_t body = (uint32_t)(req.n - 12);
  unsigned char le[4] = {body, body >> 8, body >> 16, body >> 24};
  memcpy(req.p + 8, le, 4);
  if (write_all(s, req.p, req.n, 1) < 0) fallback(&in);
  free(req.p);

  unsigned char head[9];
  if (read_exact(s, head, sizeof head) < 0 || head[0] != 'A') fallback(&in); /* 'F', or the daemon went away */
  uint32_t code = get_u32(head + 1), len = get_u32(head + 5);
  unsigned char *out = malloc(len ? len : 1);
  if (!out || read_exact(s, out, len) < 0) fallback(&in);

  /* The answer is complete: from here on, the daemon's run is the only run. */
  signal(SIGPIPE, SIG_IGN);
  if (write_all(1, out, len, 0) < 0) {
    unsigned char undo = 'u', eof;
    write_all(s, &undo, 1, 1);
    while (read(s, &eof, 1) < 0 && errno == EINTR) {} /* returns once the daemon has undone it */
    return 1;
  }
  unsigned char ok = 'k';
  write_all(s, &ok, 1, 1); /* the daemon may not wait for it: a failure here changes nothing */
  return (int)code;
}
