#pragma once
// Plain fields in a byte string and back: the messages between adaflow's own processes (MPI ranks of one
// build), so no versioning and the machine's byte order. A short message is an error, never a crash.

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace adaflow {

class ByteWriter {
 public:
  template <typename T>
  void Put(T value) {
    static_assert(std::is_trivially_copyable_v<T>);
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof(T));
  }
  void Put(const std::string& text) {
    Put<std::uint64_t>(text.size());
    bytes_ += text;
  }
  template <typename T>
  void Put(const std::vector<T>& values) {
    Put<std::uint64_t>(values.size());
    for (const T& value : values) Put<T>(value);
  }
  /// `size` bytes as they are (no length; the reader knows it).
  void Append(const void* data, std::size_t size) { bytes_.append(static_cast<const char*>(data), size); }
  std::string Take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

class ByteReader {
 public:
  explicit ByteReader(const std::string& bytes) : bytes_(bytes) {}
  template <typename T>
  T Get() {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    std::memcpy(&value, Take(sizeof(T)), sizeof(T));
    return value;
  }
  std::string GetString() {
    const auto size = Get<std::uint64_t>();
    return std::string(Take(size), size);
  }
  template <typename T>
  std::vector<T> GetVector() {
    std::vector<T> values(Get<std::uint64_t>());
    for (T& value : values) value = Get<T>();
    return values;
  }
  /// The next `size` bytes, in place.
  const char* Take(std::size_t size) {
    if (size > bytes_.size() - offset_) throw std::runtime_error("a message between adaflow processes ends early");
    const char* at = bytes_.data() + offset_;
    offset_ += size;
    return at;
  }

 private:
  const std::string& bytes_;
  std::size_t offset_ = 0;
};

}  // namespace adaflow
