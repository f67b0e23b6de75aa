#include "webhook/signing.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "common/base64.h"
#include "common/digest.h"
#include "common/id.h"

namespace stipple::webhook {
namespace {

constexpr std::string_view kPrefix = "whsec_";

}  // namespace

Result<SigningSecret> ParseSecret(std::string_view text) {
  if (text.substr(0, kPrefix.size()) != kPrefix) {
    return InvalidArgumentError("a webhook secret must start with 'whsec_'");
  }
  Result<std::string> key = Base64Decode(text.substr(kPrefix.size()));
  if (!key.ok()) return InvalidArgumentError("a webhook secret must be 'whsec_' + base64");
  if (key->size() < 16 || key->size() > 64) {
    return InvalidArgumentError("a webhook secret's key must be 16..64 bytes");
  }
  return SigningSecret{std::string(text), std::move(*key)};
}

Result<SigningSecret> LoadOrCreateSecretFile(const std::string& path) {
  std::ifstream in(path);
  if (in) {
    std::string text;
    std::getline(in, text);
    Result<SigningSecret> s = ParseSecret(text);
    if (!s.ok()) return InvalidArgumentError(path + ": " + s.status().message());
    return s;
  }
  SigningSecret s = GenerateSecret();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return UnavailableError("cannot create " + path);
  const std::string line = s.text + "\n";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  if (!written) return UnavailableError("cannot write " + path);
  // Where it is, never the secret itself: stderr ends up in logs, which others may read.
  std::fprintf(stderr,
               "stipple serve: generated the webhook signing secret into %s (mode 0600); "
               "receivers verify with the secret it holds\n",
               path.c_str());
  return s;
}

SigningSecret GenerateSecret() {
  std::string key(32, '\0');
  FillRandom(key.data(), key.size());  // the OS's CSPRNG (getrandom)
  return SigningSecret{std::string(kPrefix) + Base64Encode(key), key};
}

std::string Sign(const std::vector<SigningSecret>& secrets, std::string_view msg_id,
                 int64_t timestamp_s, std::string_view body) {
  std::string content;
  content.reserve(msg_id.size() + body.size() + 24);
  content.append(msg_id).append(".").append(std::to_string(timestamp_s)).append(".").append(body);
  std::string header;
  for (const SigningSecret& secret : secrets) {
    if (!header.empty()) header += ' ';
    header += "v1,";
    header += Base64Encode(DigestBytes(HmacSha256(secret.key, content)));
  }
  return header;
}

}  // namespace stipple::webhook
