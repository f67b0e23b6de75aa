#include "results/s3/s3_client.h"

#include <curl/curl.h>

#include <cctype>
#include <chrono>
#include <thread>

#include "common/digest.h"
#include "common/hex.h"

namespace stipple::s3 {
namespace {

constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

size_t AppendBody(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// One header line at a time; a status line (a new answer, e.g. after 100 Continue) starts over.
size_t AppendHeader(char* data, size_t size, size_t count, void* out) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(out);
  std::string_view line(data, size * count);
  if (line.substr(0, 5) == "HTTP/") headers->clear();
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
      value.remove_suffix(1);
    (*headers)[name] = std::string(value);
  }
  return size * count;
}

std::string DecodeEntities(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out.push_back(text[i]);
      continue;
    }
    const size_t semi = text.find(';', i);
    if (semi == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    std::string_view entity = text.substr(i + 1, semi - i - 1);
    if (entity == "amp")
      out.push_back('&');
    else if (entity == "lt")
      out.push_back('<');
    else if (entity == "gt")
      out.push_back('>');
    else if (entity == "quot")
      out.push_back('"');
    else if (entity == "apos")
      out.push_back('\'');
    else if (!entity.empty() && entity[0] == '#') {
      const bool hex = entity.size() > 1 && (entity[1] == 'x' || entity[1] == 'X');
      const unsigned long code =
          std::strtoul(std::string(entity.substr(hex ? 2 : 1)).c_str(), nullptr, hex ? 16 : 10);
      if (code < 0x80) {
        out.push_back(static_cast<char>(code));
      } else if (code < 0x800) {
        out.push_back(static_cast<char>(0xc0 | (code >> 6)));
        out.push_back(static_cast<char>(0x80 | (code & 0x3f)));
      } else {
        out.push_back(static_cast<char>(0xe0 | ((code >> 12) & 0x0f)));
        out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
        out.push_back(static_cast<char>(0x80 | (code & 0x3f)));
      }
    } else {
      out.append(text.substr(i, semi - i + 1));
    }
    i = semi;
  }
  return out;
}

bool ValidBucket(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) return false;
  for (char c : name) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-')) {
      return false;
    }
  }
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  return alnum(name.front()) && alnum(name.back());
}

}  // namespace

std::string XmlElement(std::string_view xml, std::string_view name, size_t* pos) {
  const std::string open = "<" + std::string(name) + ">";
  const std::string close = "</" + std::string(name) + ">";
  const size_t from = pos ? *pos : 0;
  const size_t start = xml.find(open, from);
  if (start == std::string_view::npos) {
    if (pos) *pos = std::string_view::npos;
    return "";
  }
  const size_t end = xml.find(close, start + open.size());
  if (end == std::string_view::npos) {
    if (pos) *pos = std::string_view::npos;
    return "";
  }
  if (pos) *pos = end + close.size();
  return DecodeEntities(xml.substr(start + open.size(), end - start - open.size()));
}

std::string Endpoint::HostPort() const {
  const bool default_port =
      port == 0 || (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
  return default_port ? host : host + ":" + std::to_string(port);
}

std::string Endpoint::ToString() const { return scheme + "://" + HostPort(); }

Result<Endpoint> ParseEndpoint(std::string_view url) {
  auto bad = [&](const std::string& why) {
    return InvalidArgumentError("S3 endpoint '" + std::string(url) + "': " + why);
  };
  Endpoint e;
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos) return bad("expected http://HOST[:PORT] or https://...");
  e.scheme = std::string(url.substr(0, sep));
  if (e.scheme != "http" && e.scheme != "https") return bad("the scheme must be http or https");
  std::string_view rest = url.substr(sep + 3);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find_first_of("/?#@") != std::string_view::npos) {
    return bad("only scheme://HOST[:PORT] is allowed (no path, query or user)");
  }
  std::string_view host = rest, port;
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad("unclosed '[' in the host");
    host = rest.substr(0, close + 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return bad("expected ':' after the IPv6 address");
      port = rest.substr(close + 2);
    }
  } else if (const size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty()) return bad("no host");
  e.host = std::string(host);
  if (!port.empty() || rest.find(':') != std::string_view::npos) {
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(std::string(port)) == 0 || std::stoi(std::string(port)) > 65535) {
      return bad("the port must be 1..65535");
    }
    e.port = std::stoi(std::string(port));
  }
  return e;
}

Endpoint AwsEndpoint(std::string_view region) {
  return Endpoint{.scheme = "https", .host = "s3." + std::string(region) + ".amazonaws.com"};
}

bool IsS3Url(std::string_view url) { return url.substr(0, 5) == "s3://"; }

Result<BucketPrefix> ParseS3Url(std::string_view url) {
  if (!IsS3Url(url)) {
    return InvalidArgumentError("'" + std::string(url) + "' is not an s3://BUCKET[/PREFIX] URL");
  }
  std::string_view rest = url.substr(5);
  const size_t slash = rest.find('/');
  BucketPrefix out;
  out.bucket = std::string(rest.substr(0, slash));
  if (!ValidBucket(out.bucket)) {
    return InvalidArgumentError("'" + std::string(url) + "': the bucket name '" + out.bucket +
                                "' is not valid (3..63 of a-z 0-9 . -, starting and ending with "
                                "a letter or digit)");
  }
  if (slash != std::string_view::npos) {
    std::string_view prefix = rest.substr(slash + 1);
    while (!prefix.empty() && prefix.front() == '/') prefix.remove_prefix(1);
    for (char c : prefix) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\') {
        return InvalidArgumentError("'" + std::string(url) +
                                    "': the prefix must not hold control characters or '\\'");
      }
    }
    if (prefix.size() > 512) {
      return InvalidArgumentError("'" + std::string(url) + "': the prefix is over 512 bytes");
    }
    out.prefix = std::string(prefix);
    if (!out.prefix.empty() && out.prefix.back() != '/') out.prefix += '/';
  }
  return out;
}

Client::Client(ClientOptions options) : options_(std::move(options)) {
  static std::once_flag curl_init;
  std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

Client::~Client() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* Client::Acquire() {
  {
    MutexLock lock(mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      curl_easy_reset(static_cast<CURL*>(h));  // keeps the handle's open connections
      return h;
    }
  }
  return curl_easy_init();
}

void Client::Release(void* handle) {
  MutexLock lock(mu_);
  idle_.push_back(handle);
}

std::string Client::Where() const {
  return "bucket '" + options_.bucket + "' at " + options_.endpoint.ToString();
}

Result<Response> Client::Send(const Request& r) {
  Millis pause{25};
  for (int attempt = 1;; ++attempt) {
    int rc = CURLE_OK;
    Result<Response> got = SendOnce(r, &rc);
    // Every request here is idempotent; like AWS's SDKs, send again after a broken connection,
    // a 5xx or a 429 (not after a refused connection or a timeout: those are worth reporting).
    const bool transient = rc == CURLE_PARTIAL_FILE || rc == CURLE_GOT_NOTHING ||
                           rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR ||
                           (got.ok() && (got->status >= 500 || got->status == 429));
    if (!transient || attempt >= options_.max_attempts) return got;
    std::this_thread::sleep_for(pause);
    pause *= 2;
  }
}

Result<Response> Client::SendOnce(const Request& r, int* curl_code) {
  std::string host = options_.endpoint.HostPort();
  std::string path;
  if (options_.virtual_host) {
    host = options_.bucket + "." + host;
    path = "/" + PercentEncode(r.key, true);
  } else {
    path = "/" + options_.bucket + (r.key.empty() ? "" : "/" + PercentEncode(r.key, true));
  }
  SigningRequest signing{.method = r.method, .path = path, .query = r.query, .headers = r.headers};
  signing.payload_sha256_hex = r.body.empty() ? std::string(kEmptySha256) : Sha256Hex(r.body);
  const std::string amz_date = AmzDate(std::chrono::system_clock::now());
  signing.headers.emplace_back("host", host);
  signing.headers.emplace_back("x-amz-date", amz_date);
  signing.headers.emplace_back("x-amz-content-sha256", signing.payload_sha256_hex);
  if (!options_.credentials.session_token.empty()) {
    signing.headers.emplace_back("x-amz-security-token", options_.credentials.session_token);
  }
  const Signature signature =
      SignV4(signing, options_.credentials, options_.region, "s3", amz_date);

  std::string url = options_.endpoint.scheme + "://" + host + path;
  for (size_t i = 0; i < r.query.size(); ++i) {
    url += (i == 0 ? "?" : "&") + PercentEncode(r.query[i].first, false) + "=" +
           PercentEncode(r.query[i].second, false);
  }
  curl_slist* headers = nullptr;
  for (const auto& [name, value] : signing.headers) {
    headers = curl_slist_append(headers, (name + ": " + value).c_str());
  }
  headers = curl_slist_append(headers, ("Authorization: " + signature.authorization).c_str());
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip

  CURL* h = static_cast<CURL*>(Acquire());
  if (h == nullptr) {
    curl_slist_free_all(headers);
    return InternalError("curl_easy_init failed");
  }
  Response response;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &AppendHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &response.headers);
  if (r.method == "PUT") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
    // Never a null pointer: curl would then read the body from stdin.
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, r.body.empty() ? "" : r.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
  } else if (r.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  }
  const CURLcode rc = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  Release(h);
  curl_slist_free_all(headers);
  *curl_code = rc;
  if (rc == CURLE_PARTIAL_FILE) {
    return DataLossError("the answer of " + options_.endpoint.ToString() +
                         " was cut short of its Content-Length");
  }
  if (rc != CURLE_OK) {
    return UnavailableError("S3 endpoint " + options_.endpoint.ToString() +
                            " cannot be reached: " + (error[0] ? error : curl_easy_strerror(rc)));
  }
  return response;
}

Status Client::ErrorFor(const Response& response, const std::string& what) const {
  const std::string code = XmlElement(response.body, "Code");
  const std::string message = XmlElement(response.body, "Message");
  std::string detail = "HTTP " + std::to_string(response.status);
  if (!code.empty()) detail += " " + code;
  if (!message.empty()) detail += ": " + message;
  if (response.status == 403) {
    std::string hint =
        "check the access key id and secret (AWS_ACCESS_KEY_ID, "
        "AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) and their permissions on the "
        "bucket";
    if (code == "RequestTimeTooSkewed") hint = "check this machine's clock";
    return Status(
        StatusCode::kPermissionDenied,
        "S3 " + Where() + " refused the credentials while " + what + " (" + detail + "); " + hint);
  }
  if (code == "NoSuchBucket" || (response.status == 404 && code.empty() && what == "listing")) {
    return FailedPreconditionError("S3 " + Where() + " does not exist (" + detail +
                                   "); create it, or name another with --results s3://BUCKET");
  }
  if (code == "AuthorizationHeaderMalformed" || code == "PermanentRedirect" ||
      code == "IncorrectEndpoint" || response.status == 301) {
    return FailedPreconditionError("S3 " + Where() + " is not in region " + options_.region +
                                   " or not at this endpoint (" + detail +
                                   "); check --s3-region (AWS_REGION) and --s3-endpoint");
  }
  if (response.status == 404)
    return NotFoundError("S3 has no object " + what + " (" + detail + ")");
  if (response.status >= 500 || response.status == 429) {
    return UnavailableError("S3 " + Where() + " is unavailable " + what + " (" + detail + ")");
  }
  return InternalError("S3 " + Where() + " refused " + what + " (" + detail + ")");
}

Status Client::PutObject(const std::string& key, std::string_view bytes,
                         const std::map<std::string, std::string>& metadata) {
  Request r{.method = "PUT", .key = key, .body = bytes};
  r.headers.emplace_back("content-type", "application/octet-stream");
  for (const auto& [name, value] : metadata) r.headers.emplace_back("x-amz-meta-" + name, value);
  ASSIGN_OR_RETURN(Response response, Send(r));
  if (response.status / 100 == 2) return Status::Ok();
  return ErrorFor(response, "writing " + key);
}

Result<Response> Client::GetObject(const std::string& key) {
  ASSIGN_OR_RETURN(Response response, Send({.method = "GET", .key = key}));
  if (response.status == 200) return response;
  return ErrorFor(response, "reading " + key);
}

Status Client::DeleteObject(const std::string& key) {
  ASSIGN_OR_RETURN(Response response, Send({.method = "DELETE", .key = key}));
  if (response.status / 100 == 2) return Status::Ok();
  Status error = ErrorFor(response, "deleting " + key);
  return error.code() == StatusCode::kNotFound ? Status::Ok() : error;
}

Status Client::CheckBucket(const std::string& prefix) {
  Request r{.method = "GET", .key = ""};
  r.query = {{"list-type", "2"}, {"max-keys", "1"}, {"prefix", prefix}};
  ASSIGN_OR_RETURN(Response response, Send(r));
  if (response.status != 200) return ErrorFor(response, "listing");
  return Status::Ok();
}

Result<std::vector<std::string>> Client::ListKeys(const std::string& prefix) {
  std::vector<std::string> keys;
  std::string token;
  for (;;) {
    Request r{.method = "GET", .key = ""};
    r.query = {{"list-type", "2"},
               {"max-keys", std::to_string(options_.list_page_size)},
               {"prefix", prefix}};
    if (!token.empty()) r.query.emplace_back("continuation-token", token);
    ASSIGN_OR_RETURN(Response response, Send(r));
    if (response.status != 200) return ErrorFor(response, "listing");
    size_t pos = 0;
    for (;;) {
      std::string key = XmlElement(response.body, "Key", &pos);
      if (pos == std::string::npos) break;
      keys.push_back(std::move(key));
    }
    if (XmlElement(response.body, "IsTruncated") != "true") return keys;
    token = XmlElement(response.body, "NextContinuationToken");
    if (token.empty())
      return InternalError("S3 " + Where() + ": a truncated listing without a token");
  }
}

}  // namespace stipple::s3
