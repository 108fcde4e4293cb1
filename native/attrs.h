// Declarative attribute tables: one table per message (or nest) type names
// each attribute's JS key, netlink type and wire format, and drives both the
// encoder (JS object -> attributes) and the decoder (attributes -> JS object).
#pragma once

#include <napi.h>

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "keys.h"
#include "wire.h"

namespace rtnl {

enum class Wire : uint8_t {
  U8, U16, U32, S32, U64,   // host order; U64 decodes to a BigInt
  Be16, Be32,               // network order
  Bool8, Bool32,            // true/false carried as a u8 / u32
  Flag,                     // no payload: present means true
  Str,                      // NUL-terminated string
  Mac,                      // "aa:bb:cc:dd:ee:ff"
  Ip,                       // IPv4 or IPv6 text; type6 is used for IPv6 when set
  Enum,                     // a string from names[], width in `width`
};

struct EnumName {
  uint32_t value;
  const char* name;
};

struct AttrSpec {
  const char* key;
  uint16_t type;
  Wire wire;
  uint16_t type6 = 0;                       // Ip: the IPv6 twin attribute (vxlan local6/group6)
  std::span<const EnumName> names{};  // Enum: the value names (a static array)
  uint8_t width = 4;                        // Enum: bytes on the wire (1, 2, 4)
};

class AttrTable {
 public:
  AttrTable(std::initializer_list<AttrSpec> specs);
  // Writes an attribute for every key of obj that the table names and that
  // is not undefined; only the first n keys are read when the caller knows
  // the others are absent (each read is a crossing into the JS engine).
  void encode(const Napi::Object& obj, MsgWriter& w, size_t n = SIZE_MAX) const;
  // Sets a property on out for every attribute the table names.
  void decode(Napi::Env env, Attrs attrs, Napi::Object out) const;
  // Decodes a single attribute if the table names it; false otherwise.
  bool decodeOne(Napi::Env env, const rtattr* a, Napi::Object out) const;
  // The same into an object being built.
  void decode(Napi::Env env, Attrs attrs, ObjBuilder& out) const;
  bool decodeOne(Napi::Env env, const rtattr* a, ObjBuilder& out) const;

 private:
  const AttrSpec* spec(const rtattr* a) const;  // nullptr if the table does not name a's type
  Napi::Value value(Napi::Env env, const rtattr* a, const AttrSpec& s) const;

  std::vector<AttrSpec> specs_;
  std::vector<int16_t> byType_;  // attribute type -> index in specs_, -1 if unnamed
};

// Reading an encoder's argument (already validated in TS): is key set, and its u32.
// key: a static string (see keys.h).
inline bool has(const Napi::Object& o, const char* key) { return !get(o, key).IsUndefined(); }
inline uint32_t u32(const Napi::Object& o, const char* key) { return get(o, key).As<Napi::Number>().Uint32Value(); }

// Enum helpers, for fixed headers that carry enums (ifi_type, ndm_state...).
using Names = std::span<const EnumName>;
uint32_t enumValue(const Napi::Value& v, Names names, const char* key);
Napi::Value enumName(Napi::Env env, uint32_t v, Names names);
// Flag sets: a string[] of the names whose bits are set.
Napi::Array flagNames(Napi::Env env, uint32_t bits, Names names);
uint32_t flagBits(const Napi::Value& v, Names names, const char* key);

// A JS string as an attribute: NUL-terminated (nul) or not.
void putString(MsgWriter& w, uint16_t type, const Napi::Value& v, bool nul = true);
// v is the JS string s.
bool isString(const Napi::Value& v, const char* s);
// "ip/len" from an address attribute's payload.
Napi::Value cidrString(Napi::Env env, const void* p, size_t len, unsigned prefix);

Napi::String macString(Napi::Env env, const uint8_t* p, size_t len);
// Parses "aa:bb:..." (a JS string) into out; returns the byte count (0 if malformed or not a string).
size_t parseMac(const Napi::Value& v, uint8_t out[32]);
Napi::Value ipString(Napi::Env env, const void* p, size_t len);
// Parses IPv4/IPv6 text (a JS string); returns the family (AF_INET/AF_INET6), 0 if malformed or not a string.
int parseIp(const Napi::Value& v, uint8_t out[16]);

}  // namespace rtnl
