#include "arg.h"

#include <atomic>
#include <mutex>
#include <string>
#include <unordered_map>

#include "keys.h"

namespace rtnl {

uint32_t keyId(std::string_view name) {
  static std::mutex mu;
  static std::unordered_map<std::string, uint32_t> ids;
  std::lock_guard<std::mutex> g(mu);
  auto [it, added] = ids.try_emplace(std::string(name), static_cast<uint32_t>(ids.size()));
  return it->second;
}

// Direct-mapped by address, lock-free: each slot is one word, id << 48 |
// address (user-space addresses fit in 48 bits), so a thread never reads
// half of another's write.
uint32_t keyIdOf(const char* name) {
  static std::atomic<uint64_t> slots[512];
  constexpr uint64_t kAddr = (uint64_t{1} << 48) - 1;
  auto p = reinterpret_cast<uintptr_t>(name);
  if (p > kAddr) return keyId(name);
  // Fibonacci hashing: literals sit a few bytes apart, so low bits alone collide.
  std::atomic<uint64_t>& slot = slots[(p * 0x9E3779B97F4A7C15ull) >> 55];
  uint64_t v = slot.load(std::memory_order_relaxed);
  if ((v & kAddr) == p) return static_cast<uint32_t>(v >> 48);
  uint32_t id = keyId(name);
  if (id < 0xffff) slot.store(uint64_t{id} << 48 | p, std::memory_order_relaxed);
  return id;
}

Arg::Arg(napi_env env, const napi_value* kv, size_t n) : env_(env) {
  if (n % 2 || n / 2 > kMaxPairs) throw Napi::TypeError::New(env, "rtnl: a request's fields must be (key id, value) pairs, at most 64");
  napi_get_undefined(env_, &undefined_);
  for (size_t i = 0; i < n; i += 2) {
    uint32_t id;
    if (napi_get_value_uint32(env_, kv[i], &id) != napi_ok) throw Napi::TypeError::New(env_, "rtnl: a key id must be a number");
    add(id, kv[i + 1]);
  }
}

Arg::Arg(napi_env env, const uint32_t* ids, const Napi::Array& values, uint32_t from, uint32_t n) : env_(env) {
  if (n > kMaxPairs) throw Napi::TypeError::New(env, "rtnl: a request has at most 64 fields");
  napi_get_undefined(env_, &undefined_);
  for (uint32_t i = 0; i < n; i++) add(ids[i], values.Get(from + i));
}

Arg::Arg(napi_env env, const uint32_t* ids, const napi_value* vals, uint32_t n) : env_(env) {
  if (n > kMaxPairs) throw Napi::TypeError::New(env, "rtnl: a request has at most 64 fields");
  napi_get_undefined(env_, &undefined_);
  for (uint32_t i = 0; i < n; i++) add(ids[i], vals[i]);
}

void Arg::add(uint32_t id, napi_value v) {
  if (id < 512) present_[id >> 6] |= uint64_t{1} << (id & 63);
  ids_[n_] = id;
  vals_[n_++] = v;
}

uint32_t Arg::find(uint32_t id) const {
  if (id < 512 && !(present_[id >> 6] >> (id & 63) & 1)) return n_;
  uint32_t i = 0;
  while (i < n_ && ids_[i] != id) i++;
  return i;
}

Napi::Value Arg::get(const char* key, uint32_t id) const {
  if (obj_) return rtnl::get(Napi::Object(env_, obj_), key);
  uint32_t i = find(id);
  return Napi::Value(env_, i < n_ ? vals_[i] : undefined_);
}

}  // namespace rtnl
