#include "common/id.h"

#include <sys/random.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace stipple {
namespace {

constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr size_t kUlidChars = 26;

int DecodeChar(char c) {
  const char* p = std::strchr(kAlphabet, c);
  return (p && c) ? static_cast<int>(p - kAlphabet) : -1;
}

}  // namespace

void FillRandom(void* data, size_t n) {
  auto* p = static_cast<uint8_t*>(data);
  while (n > 0) {
    ssize_t got = getrandom(p, n, 0);
    if (got < 0) continue;  // EINTR
    p += got;
    n -= static_cast<size_t>(got);
  }
}

std::string IdGenerator::Next(std::string_view prefix) {
  int64_t ms = ToUnixMillis(clock_->Now());
  std::array<uint8_t, 10> rnd;
  {
    MutexLock lock(mu_);
    if (ms <= last_ms_) {
      // Same (or an earlier) millisecond: keep the last time and increment the random part, so
      // ids from this process stay strictly increasing.
      ms = last_ms_;
      rnd = last_random_;
      for (int i = 9; i >= 0 && ++rnd[static_cast<size_t>(i)] == 0; --i) {
      }
    } else {
      FillRandom(rnd.data(), rnd.size());
      rnd[0] &= 0x7f;  // leave room to increment without overflow
    }
    last_ms_ = ms;
    last_random_ = rnd;
  }
  // 128 bits: 48-bit time, 80-bit random; encode 26 chars of 5 bits (the top 2 bits are zero).
  unsigned __int128 v =
      static_cast<unsigned __int128>(static_cast<uint64_t>(ms) & 0xFFFFFFFFFFFFull) << 80;
  for (size_t i = 0; i < 10; ++i) v |= static_cast<unsigned __int128>(rnd[i]) << (8 * (9 - i));
  std::string out(prefix);
  out += '_';
  char enc[kUlidChars];
  for (int i = kUlidChars - 1; i >= 0; --i) {
    enc[i] = kAlphabet[static_cast<unsigned>(v & 31)];
    v >>= 5;
  }
  out.append(enc, kUlidChars);
  return out;
}

std::string NewId(std::string_view prefix) {
  static IdGenerator gen;
  return gen.Next(prefix);
}

bool IsValidId(std::string_view id, std::string_view prefix) {
  if (id.size() != prefix.size() + 1 + kUlidChars) return false;
  if (id.substr(0, prefix.size()) != prefix || id[prefix.size()] != '_') return false;
  std::string_view body = id.substr(prefix.size() + 1);
  if (DecodeChar(body[0]) > 7) return false;  // would overflow 128 bits
  for (char c : body) {
    if (DecodeChar(c) < 0) return false;
  }
  return true;
}

Timestamp IdTime(std::string_view id) {
  std::string_view body = id.substr(id.size() - kUlidChars);
  uint64_t ms = 0;
  for (size_t i = 0; i < 10; ++i) ms = (ms << 5) | static_cast<uint64_t>(DecodeChar(body[i]));
  return FromUnixMillis(static_cast<int64_t>(ms));  // 10 chars = 50 bits: 2 zero bits, 48 of time
}

}  // namespace stipple
