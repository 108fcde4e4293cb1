#include "attrs.h"

#include <arpa/inet.h>

#include <cstdio>

namespace rtnl {

namespace {

[[noreturn]] void badValue(Napi::Env env, const char* key, const char* want) {
  throw Napi::TypeError::New(env, std::string(key) + ": expected " + want);
}

uint32_t toU32(const Napi::Value& v, const char* key, double max) {
  if (!v.IsNumber()) badValue(v.Env(), key, "a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= max) || d != static_cast<double>(static_cast<uint64_t>(d)))
    badValue(v.Env(), key, "an integer in range");
  return static_cast<uint32_t>(d);
}

}  // namespace

AttrTable::AttrTable(std::initializer_list<AttrSpec> specs) : specs_(specs) {
  auto index = [&](uint16_t t, size_t i) {
    if (t >= byType_.size()) byType_.resize(t + 1, -1);
    if (byType_[t] < 0) byType_[t] = static_cast<int16_t>(i);  // first key wins (remote/group share types)
  };
  for (size_t i = 0; i < specs_.size(); i++) {
    index(specs_[i].type, i);
    if (specs_[i].type6) index(specs_[i].type6, i);
  }
}

void AttrTable::encode(const Napi::Object& obj, MsgWriter& w) const {
  Napi::Env env = obj.Env();
  for (const AttrSpec& s : specs_) {
    Napi::Value v = obj.Get(s.key);
    if (v.IsUndefined()) continue;
    switch (s.wire) {
      case Wire::U8: w.put<uint8_t>(s.type, toU32(v, s.key, 0xff)); break;
      case Wire::U16: w.put<uint16_t>(s.type, toU32(v, s.key, 0xffff)); break;
      case Wire::U32: w.put<uint32_t>(s.type, toU32(v, s.key, 0xffffffffu)); break;
      case Wire::S32: {
        if (!v.IsNumber()) badValue(env, s.key, "a number");
        w.put<int32_t>(s.type, v.As<Napi::Number>().Int32Value());
        break;
      }
      case Wire::U64: {
        if (v.IsBigInt()) {
          bool lossless;
          w.put<uint64_t>(s.type, v.As<Napi::BigInt>().Uint64Value(&lossless));
        } else {
          w.put<uint64_t>(s.type, toU32(v, s.key, 9007199254740991.0));
        }
        break;
      }
      case Wire::Be16: w.put<uint16_t>(s.type, htons(toU32(v, s.key, 0xffff))); break;
      case Wire::Be32: w.put<uint32_t>(s.type, htonl(toU32(v, s.key, 0xffffffffu))); break;
      case Wire::Bool8:
      case Wire::Bool32:
      case Wire::Flag: {
        if (!v.IsBoolean()) badValue(env, s.key, "a boolean");
        bool b = v.As<Napi::Boolean>().Value();
        if (s.wire == Wire::Bool8) w.put<uint8_t>(s.type, b);
        else if (s.wire == Wire::Bool32) w.put<uint32_t>(s.type, b);
        else if (b) w.putFlag(s.type);
        break;
      }
      case Wire::Str: {
        if (!v.IsString()) badValue(env, s.key, "a string");
        w.putStr(s.type, v.As<Napi::String>().Utf8Value());
        break;
      }
      case Wire::Mac: {
        uint8_t mac[32];
        size_t n = v.IsString() ? parseMac(v.As<Napi::String>().Utf8Value(), mac) : 0;
        if (!n) badValue(env, s.key, "a MAC address like 02:00:00:00:00:01");
        w.put(s.type, mac, n);
        break;
      }
      case Wire::Ip: {
        uint8_t ip[16];
        int fam = v.IsString() ? parseIp(v.As<Napi::String>().Utf8Value(), ip) : 0;
        if (!fam) badValue(env, s.key, "an IPv4 or IPv6 address");
        if (fam == AF_INET6 && s.type6) w.put(s.type6, ip, 16);
        else w.put(s.type, ip, fam == AF_INET ? 4 : 16);
        break;
      }
      case Wire::Enum: {
        uint32_t e = enumValue(v, s.names, s.key);
        if (s.width == 1) w.put<uint8_t>(s.type, e);
        else if (s.width == 2) w.put<uint16_t>(s.type, e);
        else w.put<uint32_t>(s.type, e);
        break;
      }
    }
  }
}

bool AttrTable::decodeOne(Napi::Env env, const rtattr* a, Napi::Object out) const {
  uint16_t t = attrType(a);
  if (t >= byType_.size() || byType_[t] < 0) return false;
  const AttrSpec& s = specs_[byType_[t]];
  const void* p = RTA_DATA(a);
  size_t n = RTA_PAYLOAD(a);
  Napi::Value v;
  switch (s.wire) {
    case Wire::U8: v = Napi::Number::New(env, attrGet<uint8_t>(a)); break;
    case Wire::U16: v = Napi::Number::New(env, attrGet<uint16_t>(a)); break;
    case Wire::U32: v = Napi::Number::New(env, attrGet<uint32_t>(a)); break;
    case Wire::S32: v = Napi::Number::New(env, attrGet<int32_t>(a)); break;
    case Wire::U64: v = Napi::BigInt::New(env, attrGet<uint64_t>(a)); break;
    case Wire::Be16: v = Napi::Number::New(env, ntohs(attrGet<uint16_t>(a))); break;
    case Wire::Be32: v = Napi::Number::New(env, ntohl(attrGet<uint32_t>(a))); break;
    case Wire::Bool8: v = Napi::Boolean::New(env, attrGet<uint8_t>(a) != 0); break;
    case Wire::Bool32: v = Napi::Boolean::New(env, attrGet<uint32_t>(a) != 0); break;
    case Wire::Flag: v = Napi::Boolean::New(env, true); break;
    case Wire::Str: v = Napi::String::New(env, std::string(attrStr(a))); break;
    case Wire::Mac: v = macString(env, static_cast<const uint8_t*>(p), n); break;
    case Wire::Ip: v = ipString(env, p, n); break;
    case Wire::Enum: {
      uint32_t e = s.width == 1 ? attrGet<uint8_t>(a) : s.width == 2 ? attrGet<uint16_t>(a) : attrGet<uint32_t>(a);
      v = enumName(env, e, s.names);
      break;
    }
  }
  out.Set(s.key, v);
  return true;
}

void AttrTable::decode(Napi::Env env, Attrs attrs, Napi::Object out) const {
  for (auto a : attrs) decodeOne(env, a, out);
}

uint32_t enumValue(const Napi::Value& v, Names names, const char* key) {
  if (v.IsString()) {
    std::string s = v.As<Napi::String>().Utf8Value();
    for (const auto& n : names)
      if (s == n.name) return n.value;
  }
  std::string want = "one of";
  for (const auto& n : names) want += std::string(" '") + n.name + "'";
  badValue(v.Env(), key, want.c_str());
}

Napi::Value enumName(Napi::Env env, uint32_t v, Names names) {
  for (const auto& n : names)
    if (n.value == v) return Napi::String::New(env, n.name);
  return Napi::Number::New(env, v);
}

Napi::Array flagNames(Napi::Env env, uint32_t bits, Names names) {
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (const auto& n : names)
    if (bits & n.value) out.Set(i++, Napi::String::New(env, n.name));
  return out;
}

uint32_t flagBits(const Napi::Value& v, Names names, const char* key) {
  if (!v.IsArray()) badValue(v.Env(), key, "an array of flag names");
  Napi::Array a = v.As<Napi::Array>();
  uint32_t bits = 0;
  for (uint32_t i = 0; i < a.Length(); i++) bits |= enumValue(a.Get(i), names, key);
  return bits;
}

Napi::String macString(Napi::Env env, const uint8_t* p, size_t len) {
  char buf[32 * 3];
  size_t o = 0;
  for (size_t i = 0; i < len && i < 32; i++) o += std::snprintf(buf + o, sizeof buf - o, i ? ":%02x" : "%02x", p[i]);
  return Napi::String::New(env, buf, o);
}

size_t parseMac(const std::string& s, uint8_t out[32]) {
  size_t n = 0, i = 0;
  while (i < s.size() && n < 32) {
    unsigned v;
    int used;
    if (std::sscanf(s.c_str() + i, "%2x%n", &v, &used) != 1 || used != 2) return 0;
    out[n++] = static_cast<uint8_t>(v);
    i += 2;
    if (i == s.size()) return n;
    if (s[i++] != ':') return 0;
  }
  return 0;
}

Napi::Value ipString(Napi::Env env, const void* p, size_t len) {
  char buf[INET6_ADDRSTRLEN];
  int fam = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
  if (!fam || !inet_ntop(fam, p, buf, sizeof buf)) return env.Undefined();
  return Napi::String::New(env, buf);
}

int parseIp(const std::string& s, uint8_t out[16]) {
  if (inet_pton(AF_INET, s.c_str(), out) == 1) return AF_INET;
  if (inet_pton(AF_INET6, s.c_str(), out) == 1) return AF_INET6;
  return 0;
}

}  // namespace rtnl
