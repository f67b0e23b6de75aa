#include "common/digest.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "common/hex.h"

namespace stipple {
namespace {

// libcrypto's first use registers an atexit handler that frees its state, and a thread still
// hashing while the process exits (a request finishing on a server thread after main returned)
// would then crash on the freed locks. Initialized here first, at static initialization of any
// program that hashes, without that handler: the memory goes back with the process.
[[maybe_unused]] const bool kCryptoInitialized =
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr) == 1;

const unsigned char* Bytes(std::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}

}  // namespace

Sha256Digest Sha256(std::string_view bytes) {
  Sha256Digest out{};
  SHA256(Bytes(bytes), bytes.size(), out.data());
  return out;
}

std::string Sha256Hex(std::string_view bytes) { return HexEncode(Sha256(bytes)); }

Sha256Digest HmacSha256(std::string_view key, std::string_view data) {
  Sha256Digest out{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), Bytes(data), data.size(), out.data(),
       &length);
  return out;
}

std::string Sha1Hex(std::string_view bytes) {
  std::array<uint8_t, SHA_DIGEST_LENGTH> out{};
  SHA1(Bytes(bytes), bytes.size(), out.data());
  return HexEncode(out);
}

bool ConstantTimeEqual(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace stipple
