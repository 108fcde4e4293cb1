#include "attrs.h"

#include "keys.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <algorithm>

#include <cstdint>
#include <cstring>

namespace rtnl {

[[noreturn]] void unvalidated(Napi::Env env, const char* key) {
  throw Napi::Error::New(env, std::string("rtnl internal error: ") + key + " reached the encoder unvalidated");
}

namespace {

const char* wireName(Wire w) {
  switch (w) {
    case Wire::U8: return "u8";
    case Wire::U16: return "u16";
    case Wire::U32: return "u32";
    case Wire::S32: return "s32";
    case Wire::U64: return "u64";
    case Wire::Be16: return "be16";
    case Wire::Be32: return "be32";
    case Wire::Bool8: return "bool8";
    case Wire::Bool32: return "bool32";
    case Wire::Flag: return "flag";
    case Wire::Str: return "str";
    case Wire::IfName: return "ifname";
    case Wire::Mac: return "mac";
    case Wire::Ip: return "ip";
    case Wire::Ip4: return "ip4";
    case Wire::Ip6: return "ip6";
    case Wire::Enum: return "enum";
  }
  return "";
}

// The wire type's full range.
std::pair<double, double> wireRange(Wire w) {
  switch (w) {
    case Wire::U8: return {0, 0xff};
    case Wire::U16: case Wire::Be16: return {0, 0xffff};
    case Wire::U32: case Wire::Be32: return {0, 0xffffffffu};
    case Wire::S32: return {-2147483648.0, 2147483647.0};
    case Wire::U64: return {0, 9007199254740991.0};  // Number.MAX_SAFE_INTEGER
    case Wire::Str: return {0, 255};
    case Wire::IfName: return {1, IFNAMSIZ - 1};
    default: return {0, 0};
  }
}

// A spec's limits: max 0 takes the wire type's maximum (so `.min = 1` alone
// reads "1 and up"); min 0 with max 0 is the whole range.
std::pair<double, double> limits(const AttrSpec& s) {
  auto [lo, hi] = wireRange(s.wire);
  if (s.max == 0 && s.min == 0) return {lo, hi};
  return {s.min, s.max != 0 ? s.max : hi};
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
    ids_.push_back(keyId(specs_[i].key));
  }
}

// Each value is read with the call that takes its wire type, which fails on
// undefined (absent): TS checked the types, so that is the only failure.
void AttrTable::encode(const Arg& obj, MsgWriter& w, size_t n) const {
  napi_env env = obj.Env();
  for (size_t i = 0; i < std::min(n, specs_.size()); i++) {
    const AttrSpec& s = specs_[i];
    Napi::Value v;
    if (!obj.read(s.key, ids_[i], v)) continue;
    uint32_t u;
    bool b;
    switch (s.wire) {
      case Wire::U8: if (optU32(v, u)) w.put<uint8_t>(s.type, u); break;
      case Wire::U16: if (optU32(v, u)) w.put<uint16_t>(s.type, u); break;
      case Wire::U32: if (optU32(v, u)) w.put<uint32_t>(s.type, u); break;
      case Wire::Be16: if (optU32(v, u)) w.put<uint16_t>(s.type, htons(u)); break;
      case Wire::Be32: if (optU32(v, u)) w.put<uint32_t>(s.type, htonl(u)); break;
      case Wire::S32: {
        int32_t i;
        if (napi_get_value_int32(env, v, &i) == napi_ok) w.put<int32_t>(s.type, i);
        break;
      }
      case Wire::U64: {
        int64_t i;
        if (napi_get_value_int64(env, v, &i) == napi_ok) w.put<uint64_t>(s.type, i);
        break;
      }
      case Wire::Bool8:
      case Wire::Bool32:
      case Wire::Flag:
        if (napi_get_value_bool(env, v, &b) != napi_ok) break;
        if (s.wire == Wire::Bool8) w.put<uint8_t>(s.type, b);
        else if (s.wire == Wire::Bool32) w.put<uint32_t>(s.type, b);
        else if (b) w.putFlag(s.type);
        break;
      case Wire::Str:
      case Wire::IfName: if (v.IsString()) putString(w, s.type, v); break;
      case Wire::Mac: {
        uint8_t mac[32];
        if (size_t len = parseMac(v, mac)) w.put(s.type, mac, len);
        break;
      }
      case Wire::Ip:
      case Wire::Ip4:
      case Wire::Ip6: {
        uint8_t ip[16];
        int fam = parseIp(v, ip);
        if (fam == AF_INET6 && s.type6) w.put(s.type6, ip, 16);
        else if (fam) w.put(s.type, ip, fam == AF_INET ? 4 : 16);
        break;
      }
      case Wire::Enum: {
        if (!optEnum(v, s.names, s.key, u)) break;
        if (s.width == 1) w.put<uint8_t>(s.type, u);
        else if (s.width == 2) w.put<uint16_t>(s.type, u);
        else w.put<uint32_t>(s.type, u);
        break;
      }
    }
  }
}

void AttrTable::schema(Napi::Array out) const {
  Napi::Env env = out.Env();
  for (const AttrSpec& s : specs_) {
    auto [min, max] = limits(s);
    Napi::Object a = Napi::Object::New(env);
    a.Set("key", s.key);
    a.Set("wire", wireName(s.wire));
    a.Set("min", min);
    a.Set("max", max);
    if (s.wire == Wire::Enum) a.Set("names", nameList(env, s.names));
    out.Set(out.Length(), a);
  }
}

Napi::Array schemaOf(Napi::Env env, std::initializer_list<const AttrTable*> tables) {
  Napi::Array out = Napi::Array::New(env);
  for (const AttrTable* t : tables)
    if (t) t->schema(out);
  return out;
}

const AttrSpec* AttrTable::spec(const rtattr* a) const {
  uint16_t t = attrType(a);
  return t < byType_.size() && byType_[t] >= 0 ? &specs_[byType_[t]] : nullptr;
}

bool AttrTable::decodeOne(Napi::Env env, const rtattr* a, Napi::Object out) const {
  const AttrSpec* s = spec(a);
  if (s) set(out, s->key, value(env, a, *s));
  return s;
}

bool AttrTable::decodeOne(Napi::Env env, const rtattr* a, ObjBuilder& out) const {
  const AttrSpec* s = spec(a);
  if (s) out.set(s->key, static_cast<napi_value>(value(env, a, *s)));
  return s;
}

void AttrTable::decode(Napi::Env env, Attrs attrs, ObjBuilder& out) const {
  for (auto a : attrs) decodeOne(env, a, out);
}

Napi::Value AttrTable::value(Napi::Env env, const rtattr* a, const AttrSpec& s) const {
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
    case Wire::Str:
    case Wire::IfName: v = Napi::String::New(env, std::string(attrStr(a))); break;
    case Wire::Mac: v = macString(env, static_cast<const uint8_t*>(p), n); break;
    case Wire::Ip:
    case Wire::Ip4:
    case Wire::Ip6: v = ipString(env, p, n); break;
    case Wire::Enum: {
      uint32_t e = s.width == 1 ? attrGet<uint8_t>(a) : s.width == 2 ? attrGet<uint16_t>(a) : attrGet<uint32_t>(a);
      v = enumName(env, e, s.names);
      break;
    }
  }
  return v;
}

void AttrTable::decode(Napi::Env env, Attrs attrs, Napi::Object out) const {
  for (auto a : attrs) decodeOne(env, a, out);
}

bool optEnum(const Napi::Value& v, Names names, const char* key, uint32_t& out) {
  char s[64];
  if (ascii(v, s, sizeof s) == SIZE_MAX) return false;
  for (const auto& n : names) {
    if (std::strcmp(s, n.name) == 0) {
      out = n.value;
      return true;
    }
  }
  unvalidated(v.Env(), key);
}

uint32_t enumValue(const Napi::Value& v, Names names, const char* key) {
  uint32_t out;
  if (!optEnum(v, names, key, out)) unvalidated(v.Env(), key);
  return out;
}

Napi::Array nameList(Napi::Env env, Names names) {
  Napi::Array out = Napi::Array::New(env, names.size());
  for (uint32_t i = 0; i < names.size(); i++) out.Set(i, names[i].name);
  return out;
}

namespace {
std::vector<std::pair<const char*, SchemaFill>>& schemaFills() {
  static std::vector<std::pair<const char*, SchemaFill>> fills;
  return fills;
}
}  // namespace

namespace {
std::vector<Kind>& kindRegistry() {
  static std::vector<Kind> kinds;
  return kinds;
}
}  // namespace

RegisterKinds::RegisterKinds(std::initializer_list<Kind> kinds) {
  kindRegistry().insert(kindRegistry().end(), kinds);
}

std::span<const Kind> linkKinds() { return kindRegistry(); }

RegisterSchema::RegisterSchema(const char* name, SchemaFill fill) { schemaFills().emplace_back(name, fill); }

Napi::Object schemaObject(Napi::Env env) {
  Napi::Object out = Napi::Object::New(env);
  for (auto [name, fill] : schemaFills()) {
    Napi::Object o = out.Has(name) ? out.Get(name).As<Napi::Object>() : Napi::Object::New(env);
    fill(env, o);
    out.Set(name, o);
  }
  return out;
}

Napi::Value enumName(Napi::Env env, uint32_t v, Names names) {
  for (const auto& n : names)
    if (n.value == v) return name(env, n.name);
  return Napi::Number::New(env, v);
}

Napi::Array flagNames(Napi::Env env, uint32_t bits, Names names) {
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (const auto& n : names)
    if (bits & n.value) out.Set(i++, name(env, n.name));
  return out;
}

uint32_t flagBits(const Napi::Value& v, Names names, const char* key) {
  Napi::Array a = v.As<Napi::Array>();
  uint32_t bits = 0;
  for (uint32_t i = 0; i < a.Length(); i++) bits |= enumValue(a.Get(i), names, key);
  return bits;
}

Napi::String macString(Napi::Env env, const uint8_t* p, size_t len) {
  static const char kHex[] = "0123456789abcdef";
  char buf[32 * 3];
  size_t o = 0;
  for (size_t i = 0; i < len && i < 32; i++) {
    if (i) buf[o++] = ':';
    buf[o++] = kHex[p[i] >> 4];
    buf[o++] = kHex[p[i] & 15];
  }
  return Napi::String::New(env, buf, o);
}

namespace {
int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c |= 0x20;
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}
}  // namespace

size_t parseMac(const Napi::Value& v, uint8_t out[32]) {
  char s[32 * 3 + 1];
  size_t len = ascii(v, s, sizeof s);
  if (len == SIZE_MAX || (len + 1) % 3 != 0) return 0;
  size_t n = 0;
  for (size_t i = 0; i < len; i += 3) {
    int h = hexDigit(s[i]), l = hexDigit(s[i + 1]);
    if (h < 0 || l < 0 || (i + 2 < len && s[i + 2] != ':')) return 0;
    out[n++] = static_cast<uint8_t>(h << 4 | l);
  }
  return n;
}

void putString(MsgWriter& w, uint16_t type, const Napi::Value& v, bool nul) {
  char buf[64];
  size_t n = utf8(v, buf, sizeof buf);
  std::string long_;
  if (n == SIZE_MAX) {
    long_ = v.As<Napi::String>().Utf8Value();
    if (nul) return w.putStr(type, long_);
    return w.put(type, long_.data(), long_.size());
  }
  if (nul) w.putStr(type, std::string_view(buf, n));
  else w.put(type, buf, n);
}

bool isString(const Napi::Value& v, const char* s) {
  char buf[64];
  return ascii(v, buf, sizeof buf) != SIZE_MAX && std::strcmp(buf, s) == 0;
}

namespace {
// n in decimal at out; returns the end.
char* putDecimal(char* out, unsigned n) {
  char d[10];
  size_t k = 0;
  do d[k++] = static_cast<char>('0' + n % 10); while (n /= 10);
  while (k) *out++ = d[--k];
  return out;
}

// An address's text into buf (INET6_ADDRSTRLEN bytes); returns its length, 0
// if len is no address's. IPv4 by hand: glibc's inet_ntop formats it with
// sprintf, a third of a route's decoding.
size_t ipText(char* buf, const void* p, size_t len) {
  if (len == 4) {
    auto* b = static_cast<const uint8_t*>(p);
    char* o = buf;
    for (int i = 0; i < 4; i++) {
      if (i) *o++ = '.';
      o = putDecimal(o, b[i]);
    }
    return o - buf;
  }
  if (len == 16 && inet_ntop(AF_INET6, p, buf, INET6_ADDRSTRLEN)) return std::strlen(buf);
  return 0;
}
}  // namespace

Napi::Value cidrString(Napi::Env env, const void* p, size_t len, unsigned prefix) {
  char buf[INET6_ADDRSTRLEN + 4];
  size_t n = ipText(buf, p, len);
  if (!n) return env.Undefined();
  buf[n++] = '/';
  n = putDecimal(buf + n, prefix) - buf;
  return Napi::String::New(env, buf, n);
}

Napi::Value ipString(Napi::Env env, const void* p, size_t len) {
  char buf[INET6_ADDRSTRLEN];
  size_t n = ipText(buf, p, len);
  if (!n) return env.Undefined();
  return Napi::String::New(env, buf, n);
}

int parseIp(const Napi::Value& v, uint8_t out[16]) {
  char s[INET6_ADDRSTRLEN + 1];
  if (ascii(v, s, sizeof s) == SIZE_MAX) return 0;
  if (inet_pton(AF_INET, s, out) == 1) return AF_INET;
  if (inet_pton(AF_INET6, s, out) == 1) return AF_INET6;
  return 0;
}

// ---- the property-name cache (keys.h) ----

napi_value KeyCache::get(napi_env env, const char* name) {
  Slot& slot = slots_[(reinterpret_cast<uintptr_t>(name) >> 3) % std::size(slots_)];
  bool fresh = false;
  if (slot.name != name) {
    auto [it, added] = index_.try_emplace(name, static_cast<uint32_t>(index_.size()));
    slot = {name, it->second};
    fresh = added;
  }
  uint32_t i = slot.index;
  if (!fresh && gen_ && local_[i].gen == gen_) return local_[i].v;
  napi_value store, v;
  if (!store_) {
    env_ = env;
    napi_create_array(env, &store);
    napi_create_reference(env, store, 1, &store_);
  } else if (gen_ && storeGen_ == gen_) {
    store = storeLocal_;  // one reference read per scope, not per key
  } else {
    napi_get_reference_value(env, store_, &store);
  }
  if (gen_) storeLocal_ = store, storeGen_ = gen_;
  if (fresh) {
    // A name read back from an object's keys is V8's internalized string,
    // so property lookups with it skip the string table
    // (napi_create_string_utf8 would give a fresh string, interned again on
    // each use).
    napi_value o, names;
    napi_create_object(env, &o);
    napi_get_undefined(env, &v);
    napi_set_named_property(env, o, name, v);
    napi_get_property_names(env, o, &names);
    napi_get_element(env, names, 0, &v);
    napi_set_element(env, store, i, v);
    local_.resize(index_.size());
  } else {
    napi_get_element(env, store, i, &v);
  }
  if (gen_) local_[i] = {v, gen_};
  return v;
}

napi_value KeyCache::builder(napi_env env) {
  napi_value fn;
  if (builder_ && builderNames_ == index_.size()) {
    napi_get_reference_value(env, builder_, &fn);
    return fn;
  }
  // Remade when names were added since: a name it does not know still
  // works (the default case), only through a keyed store.
  std::string src = "(function () { const o = {}; for (let i = 0; i < arguments.length; i += 2) { const v = arguments[i + 1]; switch (arguments[i]) {";
  for (const auto& entry : index_) {
    std::string_view n(entry.first);
    if (n.find_first_of("\\\"\n\r") != n.npos || n == "__proto__") continue;
    src += " case \""; src += n; src += "\": o[\""; src += n; src += "\"] = v; break;";
  }
  src += " default: o[arguments[i]] = v; } } return o; })";
  napi_value script;
  napi_create_string_utf8(env, src.data(), src.size(), &script);
  NAPI_THROW_IF_FAILED(env, napi_run_script(env, script, &fn), nullptr);
  if (builder_) napi_delete_reference(env, builder_);
  napi_create_reference(env, fn, 1, &builder_);
  builderNames_ = index_.size();
  return fn;
}

KeyCache::~KeyCache() {
  if (last_ == this) last_ = nullptr, lastEnv_ = nullptr;
  if (store_) napi_delete_reference(env_, store_);
  if (builder_) napi_delete_reference(env_, builder_);
}

napi_value ObjBuilder::find(const char* name) const {
  for (size_t i = names_.size(); i-- > 0;)
    if (std::strcmp(names_[i], name) == 0) return kv_[2 * i + 1];
  return nullptr;
}

void ObjBuilder::erase(const char* name) {
  for (size_t i = names_.size(); i-- > 0;) {
    if (std::strcmp(names_[i], name) != 0) continue;
    names_.erase(names_.begin() + i);
    kv_.erase(kv_.begin() + 2 * i, kv_.begin() + 2 * i + 2);
  }
}

Napi::Object ObjBuilder::done() {
  napi_value fn = keyCache(env_).builder(env_), undef, out;
  napi_get_undefined(env_, &undef);
  NAPI_THROW_IF_FAILED(env_, napi_call_function(env_, undef, fn, kv_.size(), kv_.data(), &out), Napi::Object());
  return Napi::Object(env_, out);
}

KeyScope::KeyScope(napi_env env) : cache_(keyCache(env)), saved_(cache_.gen_) { cache_.gen_ = ++cache_.scopes_; }

KeyScope::~KeyScope() { cache_.gen_ = saved_; }

size_t utf8(const Napi::Value& v, char* buf, size_t cap) {
  size_t n;
  if (napi_get_value_string_utf8(v.Env(), v, buf, cap, &n) != napi_ok || n + 1 >= cap) return SIZE_MAX;
  return n;
}

size_t ascii(const Napi::Value& v, char* buf, size_t cap) {
  size_t n;
  if (napi_get_value_string_latin1(v.Env(), v, buf, cap, &n) != napi_ok || n + 1 >= cap) return SIZE_MAX;
  return n;
}

}  // namespace rtnl
