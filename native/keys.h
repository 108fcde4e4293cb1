// Property names made once per addon instance and reused, for the decoders
// (building objects) and for the nested objects an encoder reads (a request's
// own fields come as key ids: arg.h). napi_get_named_property and
// Napi::Object::Get/Set("name") build and intern a new JS string for the
// name on every call.
#pragma once

#include <napi.h>

#include <string>
#include <unordered_map>
#include <vector>

namespace rtnl {

class KeyCache;
// The cache of env's addon instance (native/instance.h).
KeyCache& keyCache(napi_env env);

class KeyCache {
 public:
  // The internalized JS string for name. name must be a string with static
  // storage (a literal, a table's key): the cache is keyed by its address.
  napi_value get(napi_env env, const char* name);
  ~KeyCache();

  // keyCache(env), remembered per thread for the env last asked about (an
  // instance-data read is a call into Node per key otherwise).
  static KeyCache& of(napi_env env) {
    if (env != lastEnv_) last_ = &keyCache(env), lastEnv_ = env;
    return *last_;
  }

  // A JS function that builds a plain object from (key, value, ...) pairs
  // with one named store per known name (see ObjBuilder).
  napi_value builder(napi_env env);

 private:
  friend class KeyScope;
  // Node-API 8 cannot reference a string: the keys live in one referenced
  // array. Reading it back costs a call per key, so inside a KeyScope (one
  // native call) each key is read once and its handle reused.
  struct Local {
    napi_value v;
    uint64_t gen;
  };
  napi_env env_ = nullptr;
  napi_ref store_ = nullptr;
  std::unordered_map<const char*, uint32_t> index_;  // name -> index in store_
  std::vector<Local> local_;                          // handles valid in scope `gen`
  uint64_t gen_ = 0, scopes_ = 0;                     // the open scope (0: none), scopes so far
  napi_value storeLocal_ = nullptr;                    // store_'s handle in scope storeGen_
  uint64_t storeGen_ = 0;
  napi_ref builder_ = nullptr;
  size_t builderNames_ = 0;                            // names the builder was made for
  // A direct-mapped cache of index_ by the name's address, checked first: a
  // request reads a dozen keys, and hashing into index_ was a tenth of encoding.
  struct Slot {
    const char* name = nullptr;
    uint32_t index = 0;
  };
  Slot slots_[128];
  static inline thread_local napi_env lastEnv_ = nullptr;
  static inline thread_local KeyCache* last_ = nullptr;
};

// Marks one native call (one JS handle scope) during which key handles may
// be reused. Open one at the top of every entry point that reads or builds
// objects; nesting is fine.
class KeyScope {
 public:
  explicit KeyScope(napi_env env);
  ~KeyScope();
  KeyScope(const KeyScope&) = delete;
  KeyScope& operator=(const KeyScope&) = delete;

 private:
  KeyCache& cache_;
  uint64_t saved_;
};

inline napi_value key(napi_env env, const char* name) { return KeyCache::of(env).get(env, name); }

// The JS string for a static string, made once: for names used as values
// (enum names, flags, kinds), which then cost no string creation per object.
inline Napi::Value name(Napi::Env env, const char* s) { return Napi::Value(env, key(env, s)); }

// obj[name], name a static string (see KeyCache).
inline Napi::Value get(const Napi::Object& obj, const char* name) {
  napi_value v;
  NAPI_THROW_IF_FAILED(obj.Env(), napi_get_property(obj.Env(), obj, key(obj.Env(), name), &v), Napi::Value());
  return Napi::Value(obj.Env(), v);
}

// obj[name] = v, name a static string; v anything Napi::Value::From takes.
template <typename T>
void set(const Napi::Object& obj, const char* name, const T& v) {
  napi_status s = napi_set_property(obj.Env(), obj, key(obj.Env(), name), Napi::Value::From(obj.Env(), v));
  NAPI_THROW_IF_FAILED_VOID(obj.Env(), s);
}

// Collects an object's properties and makes it in one call into JS. Each
// napi_set_property costs a crossing, and V8 counts those stores as keyed:
// past 16 properties (a link has 25) the object turns into a slow
// dictionary. The builder's named stores keep it a fast object. Properties
// keep the order of the first set, as with napi_set_property.
class ObjBuilder {
 public:
  explicit ObjBuilder(napi_env env) : env_(env) { kv_.reserve(64); }
  void set(const char* name, napi_value v) {
    names_.push_back(name);
    kv_.push_back(key(env_, name));
    kv_.push_back(v);
  }
  // v anything Napi::Value::From takes.
  template <typename T>
  void set(const char* name, const T& v) {
    set(name, static_cast<napi_value>(Napi::Value::From(Napi::Env(env_), v)));
  }
  // The last value set for name, or nullptr.
  napi_value find(const char* name) const;
  void erase(const char* name);
  Napi::Object done();

 private:
  napi_env env_;
  std::vector<const char*> names_;
  std::vector<napi_value> kv_;  // key, value, key, value...
};

// A JS string's UTF-8 bytes into buf (NUL-terminated); returns the length,
// or SIZE_MAX if it is not a string or does not fit (the caller then falls
// back to Utf8Value). Saves a std::string per short string.
size_t utf8(const Napi::Value& v, char* buf, size_t cap);
// The same for text TS has checked is ASCII (addresses, MACs, enum names,
// tc handles): read as Latin-1, a plain copy where UTF-8 is a conversion.
size_t ascii(const Napi::Value& v, char* buf, size_t cap);

}  // namespace rtnl
