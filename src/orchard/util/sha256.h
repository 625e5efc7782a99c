#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace orchard {

std::string Sha256Hex(std::string_view data);

/// SHA-256 of data given in pieces: Sha256Hex of their concatenation, without holding it.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;

  void Update(std::string_view data);
  /// The digest of everything updated so far, as lowercase hex; the stream is spent after.
  std::string HexDigest();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

}  // namespace orchard
