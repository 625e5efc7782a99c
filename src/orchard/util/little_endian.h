// Fixed-width little-endian fields in byte strings: what orchard's own binary formats (the
// shard outcome, the listing file) are made of.
#pragma once

#include <bit>
#include <cstring>
#include <string>
#include <string_view>

namespace orchard::util {

static_assert(std::endian::native == std::endian::little, "little-endian encoding");

/// Appends `value`'s bytes to `out`.
template <typename T>
void PutLittle(std::string* out, T value) {
  out->append(reinterpret_cast<const char*>(&value), sizeof(value));
}

/// Reads a T from the front of `in` and drops its bytes; false when `in` is too short.
template <typename T>
bool TakeLittle(std::string_view* in, T* value) {
  if (in->size() < sizeof(T)) return false;
  std::memcpy(value, in->data(), sizeof(T));
  in->remove_prefix(sizeof(T));
  return true;
}

}  // namespace orchard::util
