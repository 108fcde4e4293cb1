// tc handles as tc writes them, shared by the qdisc/class and filter codecs.
#pragma once

#include <linux/pkt_sched.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "attrs.h"

namespace rtnl {

// "root", "ingress", "clsact", "MAJ:" or "MAJ:MIN" (hex), as TS validated it.
inline uint32_t tcHandle(const Napi::Value& v, const char* key) {
  char s[16];
  if (utf8(v, s, sizeof s) == SIZE_MAX) unvalidated(v.Env(), key);
  if (!std::strcmp(s, "root")) return TC_H_ROOT;
  if (!std::strcmp(s, "ingress")) return TC_H_INGRESS;
  if (!std::strcmp(s, "clsact")) return TC_H_CLSACT;
  char* end;
  unsigned long maj = std::strtoul(s, &end, 16), min = 0;
  if (*end != ':' || maj > 0xffff) unvalidated(v.Env(), key);
  if (end[1]) min = std::strtoul(end + 1, &end, 16);
  if (*end && *end != ':') unvalidated(v.Env(), key);
  return TC_H_MAKE(maj << 16, min);
}

// As tc prints handles: "root", "1:", "1:10", "ffff:fff1".
inline Napi::Value handleText(Napi::Env env, uint32_t h) {
  if (h == TC_H_ROOT) return name(env, "root");
  char buf[16];
  int n = TC_H_MIN(h) ? std::snprintf(buf, sizeof buf, "%x:%x", TC_H_MAJ(h) >> 16, TC_H_MIN(h))
                      : std::snprintf(buf, sizeof buf, "%x:", TC_H_MAJ(h) >> 16);
  return Napi::String::New(env, buf, n);
}

}  // namespace rtnl
