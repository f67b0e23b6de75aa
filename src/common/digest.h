// Message digests over OpenSSL's libcrypto, the one place in stipple that calls it: SHA-256 (result
// checksums and ETags, request fingerprints, API key and worker token digests, S3 payload hashes),
// HMAC-SHA256 (webhook signatures, S3 SigV4 keys), SHA-1 (Redis script ids, as EVALSHA names
// them) and a constant-time comparison for secrets. Pure functions, thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace stipple {

using Sha256Digest = std::array<uint8_t, 32>;

// SHA-256 of `bytes` (FIPS 180-4).
Sha256Digest Sha256(std::string_view bytes);

// SHA-256 of `bytes` as 64 lower-case hex digits.
std::string Sha256Hex(std::string_view bytes);

// HMAC-SHA256 (RFC 2104) of `data` under `key`; any key length.
Sha256Digest HmacSha256(std::string_view key, std::string_view data);

// SHA-1 of `bytes` as 40 lower-case hex digits (only for names others define with it, such as
// Redis script ids; never for anything secret).
std::string Sha1Hex(std::string_view bytes);

// True when a and b hold the same bytes. For equal sizes the time does not depend on where they
// differ (sizes are not secret).
bool ConstantTimeEqual(std::span<const uint8_t> a, std::span<const uint8_t> b);

// The bytes of a digest, e.g. to chain HMAC keys or to encode it.
inline std::string_view DigestBytes(const Sha256Digest& digest) {
  return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

}  // namespace stipple
