// Standard Webhooks signing (https://www.standardwebhooks.com): secrets of the form
// "whsec_" + base64(key), and the webhook-signature header "v1,<base64 HMAC-SHA256 of
// "{id}.{timestamp}.{body}">", one signature per configured secret, space-separated, so a
// receiver can move to a new key while the server signs with both.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace stipple::webhook {

// A signing key; `text` is the "whsec_..." form a receiver configures.
struct SigningSecret {
  std::string text;
  std::string key;  // the decoded bytes
};

// Parses "whsec_" + base64 of 16..64 bytes (kInvalidArgument otherwise).
Result<SigningSecret> ParseSecret(std::string_view text);

// A new secret of 32 random bytes from the OS's CSPRNG.
SigningSecret GenerateSecret();

// The secret kept in the file at `path` (its first line): read when the file exists; else a new
// one is generated and written there (mode 0600, fsynced), and a notice naming the file is
// written to stderr. kInvalidArgument (naming the file) for a file that holds no secret,
// kUnavailable when the file cannot be made.
Result<SigningSecret> LoadOrCreateSecretFile(const std::string& path);

// The webhook-signature value for one message, signed with each secret in order:
// "v1,SIG1 v1,SIG2".
std::string Sign(const std::vector<SigningSecret>& secrets, std::string_view msg_id,
                 int64_t timestamp_s, std::string_view body);

}  // namespace stipple::webhook
