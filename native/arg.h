// An encoder's argument. TS sends a request's validated object as its
// defined properties only, (key id, value) pairs: the call's arguments for a
// single request (read in its one napi_get_cb_info); for a batch, the ids in
// a Uint32Array and the values in an array. An encoder's key reads then cost
// no crossing into the JS engine, where reading an object costs two per key
// (the cached name, then the property), whether the key is there or not.
// Nested objects (metrics, a veth peer) are read as objects.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string_view>

namespace rtnl {

// Process-wide ids for property names, by content: TS asks for the id of
// each name it sends (the addon's keyId export), encoders name keys by
// static strings that map to the same ids.
uint32_t keyId(std::string_view name);
// keyId of a static string, remembered by its address.
uint32_t keyIdOf(const char* name);

class Arg {
 public:
  // A nested JS object.
  Arg(const Napi::Object& o) : env_(o.Env()), obj_(o) {}  // NOLINT: implicit, as nested objects are passed
  // kv[0..n): id, value, id, value...
  Arg(napi_env env, const napi_value* kv, size_t n);
  // n fields: their ids, and their values from values[from] (a batch's
  // array), or from vals (a batch's values spread as call arguments).
  Arg(napi_env env, const uint32_t* ids, const Napi::Array& values, uint32_t from, uint32_t n);
  Arg(napi_env env, const uint32_t* ids, const napi_value* vals, uint32_t n);

  Napi::Env Env() const { return Napi::Env(env_); }
  // The value of key (a static string), undefined if it was not sent.
  Napi::Value get(const char* key) const { return get(key, obj_ ? 0 : keyIdOf(key)); }
  // The same with key's id known (an attribute table keeps its keys' ids).
  Napi::Value get(const char* key, uint32_t id) const;
  // Whether key was sent: for pairs, no call into the engine at all.
  bool has(const char* key, uint32_t id) const { return obj_ ? !get(key, id).IsUndefined() : find(id) < n_; }
  bool has(const char* key) const { return has(key, obj_ ? 0 : keyIdOf(key)); }
  // Reads key into v unless it was not sent (an object: always read, v may be undefined).
  bool read(const char* key, uint32_t id, Napi::Value& v) const {
    if (!obj_ && find(id) == n_) return false;
    v = get(key, id);
    return true;
  }

 private:
  static constexpr size_t kMaxPairs = 64;
  napi_env env_;
  napi_value obj_ = nullptr;  // object mode; pairs mode otherwise
  napi_value undefined_ = nullptr;
  uint32_t n_ = 0;
  uint64_t present_[8] = {};  // ids below 512 that were sent: most lookups of an absent key end here
  uint32_t ids_[kMaxPairs];
  napi_value vals_[kMaxPairs];

  void add(uint32_t id, napi_value v);
  uint32_t find(uint32_t id) const;  // index in ids_, n_ if not sent
};

}  // namespace rtnl
