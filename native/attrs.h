// Declarative attribute tables: one table per message (or nest) type names
// each attribute's JS key, netlink type, wire format and limits. It is the
// only declaration of an attribute: it drives the encoder (JS object ->
// attributes), the decoder (attributes -> JS object), and, exported by
// schema(), the TS validation (src/schema.ts), which is the only check of
// what crosses in: the encoder trusts its argument.
#pragma once

#include <napi.h>
#include <sys/socket.h>

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "arg.h"
#include "keys.h"
#include "wire.h"

namespace rtnl {

enum class Wire : uint8_t {
  U8, U16, U32, S32, U64,   // host order; U64 decodes to a BigInt
  Be16, Be32,               // network order
  Bool8, Bool32,            // true/false carried as a u8 / u32
  Flag,                     // no payload: present means true
  Str,                      // NUL-terminated string
  IfName,                   // an interface name: a Str the kernel's dev_valid_name() accepts
  Mac,                      // "aa:bb:cc:dd:ee:ff"
  Ip,                       // IPv4 or IPv6 text; type6 is used for IPv6 when set
  Ip4, Ip6,                 // an Ip of that family only (a tunnel's endpoints)
  Enum,                     // a string from names[], width in `width`
};

struct EnumName {
  uint32_t value;
  const char* name;
};

// A plain aggregate: `{"mtu", IFLA_MTU, Wire::U32}` is a whole declaration;
// limits are set by name: `{.key = "vni", .type = IFLA_VXLAN_ID, .wire = Wire::U32, .max = 0xffffff}`.
struct AttrSpec {
  const char* key;
  uint16_t type;
  Wire wire;
  uint16_t type6 = 0;                       // Ip: the IPv6 twin attribute (vxlan local6/group6)
  std::span<const EnumName> names{};  // Enum: the value names (a static array)
  uint8_t width = 4;                        // Enum: bytes on the wire (1, 2, 4)
  // What TS accepts: integers from min to max, strings of at most max bytes.
  // max 0: the wire type's maximum; min 0 and max 0: its full range (see limits()).
  double min = 0;
  double max = 0;
};

// An ifindex attribute (IFLA_MASTER, RTA_OIF...): 1 to INT_MAX.
constexpr AttrSpec ifindexAttr(const char* key, uint16_t type) {
  return {.key = key, .type = type, .wire = Wire::U32, .min = 1, .max = 0x7fffffff};
}

class AttrTable {
 public:
  AttrTable(std::initializer_list<AttrSpec> specs);
  // Writes an attribute for every key of obj that the table names and that
  // is not undefined, in the table's order; only for its first n keys when
  // the caller writes the others itself (a next hop's id goes first).
  void encode(const Arg& obj, MsgWriter& w, size_t n = SIZE_MAX) const;
  // Sets a property on out for every attribute the table names.
  void decode(Napi::Env env, Attrs attrs, Napi::Object out) const;
  // Decodes a single attribute if the table names it; false otherwise.
  bool decodeOne(Napi::Env env, const rtattr* a, Napi::Object out) const;
  // The same into an object being built.
  void decode(Napi::Env env, Attrs attrs, ObjBuilder& out) const;
  bool decodeOne(Napi::Env env, const rtattr* a, ObjBuilder& out) const;
  // Appends the table to out as schema() exports it: { key, wire, min, max, names? } each.
  void schema(Napi::Array out) const;

 private:
  const AttrSpec* spec(const rtattr* a) const;  // nullptr if the table does not name a's type
  Napi::Value value(Napi::Env env, const rtattr* a, const AttrSpec& s) const;

  std::vector<AttrSpec> specs_;
  std::vector<uint32_t> ids_;    // each spec's keyId
  std::vector<int16_t> byType_;  // attribute type -> index in specs_, -1 if unnamed
};

// Reading an encoder's argument (already validated in TS): is key set, and its u32.
// key: a static string (see keys.h).
inline Napi::Value get(const Arg& a, const char* key) { return a.get(key); }
inline bool has(const Arg& a, const char* key) { return a.has(key); }
inline uint32_t u32(const Arg& a, const char* key) { return a.get(key).As<Napi::Number>().Uint32Value(); }
// The `family` field (4 or 6) as AF_INET/AF_INET6; AF_UNSPEC if not sent.
inline uint8_t familyArg(const Arg& a) {
  if (!a.has("family")) return AF_UNSPEC;
  return u32(a, "family") == 6 ? AF_INET6 : AF_INET;
}
// A value as a u32 if it is a number: false for undefined (TS checked the
// type, so that is the only other case). One N-API call, where a `has`
// then a read are three.
inline bool optU32(const Napi::Value& v, uint32_t& out) { return napi_get_value_uint32(v.Env(), v, &out) == napi_ok; }

// Enum helpers, for fixed headers that carry enums (ifi_type, ndm_state...).
// The EnumName arrays are the only lists of these names: TS gets them from schema().
using Names = std::span<const EnumName>;
// The value of a name TS validated against names (schema() exports them).
uint32_t enumValue(const Napi::Value& v, Names names, const char* key);
// The same, false when v is not a string (undefined).
bool optEnum(const Napi::Value& v, Names names, const char* key, uint32_t& out);
// The names as a JS string[], for schema().
Napi::Array nameList(Napi::Env env, Names names);
// A value TS should have refused reached an encoder: a bug, not bad input.
[[noreturn]] void unvalidated(Napi::Env env, const char* key);
Napi::Value enumName(Napi::Env env, uint32_t v, Names names);
// Flag sets: a string[] of the names whose bits are set.
Napi::Array flagNames(Napi::Env env, uint32_t bits, Names names);
uint32_t flagBits(const Napi::Value& v, Names names, const char* key);

// Scopes as iproute2 names them: of addresses (ifa_scope) and routes (rtm_scope).
inline constexpr EnumName kScopes[] = {{RT_SCOPE_UNIVERSE, "universe"}, {RT_SCOPE_SITE, "site"},
                                       {RT_SCOPE_LINK, "link"}, {RT_SCOPE_HOST, "host"},
                                       {RT_SCOPE_NOWHERE, "nowhere"}};

// The addon's schema() export: each codec file registers a function that
// fills its message type's entry (its tables, its enums) at static init.
using SchemaFill = void (*)(Napi::Env env, Napi::Object out);
struct RegisterSchema {
  RegisterSchema(const char* name, SchemaFill fill);
};
// The attributes of tables (nullptr ones skipped) in one array.
Napi::Array schemaOf(Napi::Env env, std::initializer_list<const AttrTable*> tables);
// { [message type]: what its SchemaFill put in }.
Napi::Object schemaObject(Napi::Env env);

// A link kind (IFLA_INFO_KIND) the codec creates and decodes. Any codec file
// registers kinds with a RegisterKinds at namespace scope; the link codec and
// schema().link.kinds read the registry.
struct Kind {
  const char* name;
  const AttrTable* data;            // IFLA_INFO_DATA, or nullptr for kinds without any
  const AttrTable* tail = nullptr;  // more of IFLA_INFO_DATA, sent after kind-specific extras
  const char* required = "";        // space-separated keys a spec must give (they need not be in data)
  // What a table cannot say (GRE key flags): attributes sent between data and tail, and read back after both.
  void (*encodeExtra)(const Arg& arg, MsgWriter& w) = nullptr;
  void (*decodeExtra)(Napi::Env env, Attrs data, ObjBuilder& out) = nullptr;
  // Read back but never created (tun: the kernel makes it only through /dev/net/tun).
  bool decodeOnly = false;
};
struct RegisterKinds {
  RegisterKinds(std::initializer_list<Kind> kinds);
};
std::span<const Kind> linkKinds();

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
