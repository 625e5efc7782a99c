#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace orchard {

/// Lower-case hex SHA-256 of `data` (OpenSSL). Thread-safe.
std::string Sha256Hex(std::string_view data);

}  // namespace orchard
