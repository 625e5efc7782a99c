#include "orchard/util/sha256.h"

#include <openssl/evp.h>

#include <array>
#include <cstdio>

namespace orchard {

std::string Sha256Hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_len = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &digest_len, EVP_sha256(), nullptr);
  std::string hex;
  hex.reserve(digest_len * 2);
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned int byte_idx = 0; byte_idx < digest_len; ++byte_idx) {
    hex.push_back(kHex[digest[byte_idx] >> 4]);
    hex.push_back(kHex[digest[byte_idx] & 0xF]);
  }
  return hex;
}

}  // namespace orchard
