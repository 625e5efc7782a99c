#include "orchard/util/sha256.h"

#include <openssl/evp.h>

#include <array>
#include <cstdio>

namespace orchard {
namespace {

std::string ToHex(const unsigned char* digest, unsigned int digest_len) {
  std::string hex;
  hex.reserve(digest_len * 2);
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned int byte_idx = 0; byte_idx < digest_len; ++byte_idx) {
    hex.push_back(kHex[digest[byte_idx] >> 4]);
    hex.push_back(kHex[digest[byte_idx] & 0xF]);
  }
  return hex;
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_len = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &digest_len, EVP_sha256(), nullptr);
  return ToHex(digest.data(), digest_len);
}

struct Sha256Stream::Context {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  ~Context() { EVP_MD_CTX_free(md); }
};

Sha256Stream::Sha256Stream() : context_(std::make_unique<Context>()) {
  EVP_DigestInit_ex(context_->md, EVP_sha256(), nullptr);
}

Sha256Stream::~Sha256Stream() = default;

void Sha256Stream::Update(std::string_view data) {
  EVP_DigestUpdate(context_->md, data.data(), data.size());
}

std::string Sha256Stream::HexDigest() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_len = 0;
  EVP_DigestFinal_ex(context_->md, digest.data(), &digest_len);
  return ToHex(digest.data(), digest_len);
}

}  // namespace orchard
