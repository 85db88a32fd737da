#include "pipeline/content_hash.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "common/error.h"

namespace adaflow {
namespace {

constexpr std::uint64_t kMul = 0xFF51AFD7ED558CCDULL;

std::uint64_t Mix(std::uint64_t h, std::uint64_t word) {
  h ^= word;
  h *= kMul;
  h ^= h >> 31;
  return h;
}

}  // namespace

ContentHasher& ContentHasher::Add(std::string_view bytes) {
  std::size_t pos = 0;
  while (pos + 8 <= bytes.size()) {
    std::uint64_t word;
    std::memcpy(&word, bytes.data() + pos, 8);
    state_ = Mix(state_, word);
    pos += 8;
  }
  std::uint64_t tail = 0;
  std::memcpy(&tail, bytes.data() + pos, bytes.size() - pos);
  state_ = Mix(state_, tail ^ (static_cast<std::uint64_t>(bytes.size() - pos) << 56));
  length_ += bytes.size();
  return *this;
}

ContentHasher& ContentHasher::Add(std::uint64_t value) {
  state_ = Mix(state_, value);
  length_ += 8;
  return *this;
}

ContentHasher& ContentHasher::Field(std::string_view label, std::string_view value) {
  Add(static_cast<std::uint64_t>(label.size()));
  Add(label);
  Add(static_cast<std::uint64_t>(value.size()));
  Add(value);
  return *this;
}

std::uint64_t ContentHasher::Digest() const {
  std::uint64_t h = Mix(state_, length_);
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ULL;
  h ^= h >> 33;
  return h;
}

std::string ContentHasher::HexDigest() const { return ToHex(Digest()); }

std::string ToHex(std::uint64_t value) {
  static const char* kDigits = "0123456789abcdef";
  std::string out(16, '0');
  for (int idx = 15; idx >= 0; --idx) {
    out[static_cast<std::size_t>(idx)] = kDigits[value & 0xF];
    value >>= 4;
  }
  return out;
}

std::string HashFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot read '" + path + "'");
  ContentHasher hasher;
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    hasher.Add(std::string_view(buffer.data(), static_cast<std::size_t>(in.gcount())));
  }
  return hasher.HexDigest();
}

std::string FingerprintPath(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return HashFile(path);
  if (!fs::is_directory(path, ec)) throw InputError("'" + path + "' does not exist");
  std::vector<std::string> entries;
  for (const auto& entry : fs::recursive_directory_iterator(path, ec)) {
    if (!entry.is_regular_file()) continue;
    const auto mtime = entry.last_write_time().time_since_epoch().count();
    entries.push_back(fs::relative(entry.path(), path).generic_string() + "\t" +
                      std::to_string(entry.file_size()) + "\t" + std::to_string(mtime));
  }
  std::sort(entries.begin(), entries.end());
  ContentHasher hasher;
  for (const auto& line : entries) hasher.Field("entry", line);
  return hasher.HexDigest();
}

}  // namespace adaflow
