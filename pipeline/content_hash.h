#pragma once
// Content keys: a 64-bit hash over canonical text and file contents. Not cryptographic; it only has to
// tell "same inputs" from "changed inputs" for resume.

#include <cstdint>
#include <string>
#include <string_view>

namespace adaflow {

class ContentHasher {
 public:
  ContentHasher& Add(std::string_view bytes);
  ContentHasher& Add(std::uint64_t value);
  /// Adds a labelled field; the label keeps "a=1,b=2" distinct from "a=1b,=2".
  ContentHasher& Field(std::string_view label, std::string_view value);
  std::uint64_t Digest() const;
  std::string HexDigest() const;

 private:
  std::uint64_t state_ = 0x9E3779B97F4A7C15ULL;
  std::uint64_t length_ = 0;
};

std::string ToHex(std::uint64_t value);

/// Hash of a file's bytes; throws InputError naming the path when it cannot be read.
std::string HashFile(const std::string& path);

/// Fingerprint of a path for content keys: a file by its bytes; a directory by every file's relative
/// path, size and modification time (hashing a whole image tree's bytes on every start would be slow).
std::string FingerprintPath(const std::string& path);

}  // namespace adaflow
