#include "api/multipart.h"

#include <cctype>

namespace stipple::http {
namespace {

Status Bad(const std::string& field, const std::string& message) {
  return InvalidArgumentError(field + ": " + message, {{field, message}});
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A header value of the form `type; name=value; name="quoted value"` (Content-Type,
// Content-Disposition): the type, lower case, then the parameters with lower-case names.
struct Parameterized {
  std::string type;
  std::vector<std::pair<std::string, std::string>> params;
  const std::string* Find(std::string_view name) const {
    for (const auto& [n, v] : params) {
      if (n == name) return &v;
    }
    return nullptr;
  }
};

std::optional<Parameterized> ParseParameterized(std::string_view value) {
  Parameterized out;
  size_t i = value.find(';');
  out.type = Lower(Trim(value.substr(0, i)));
  while (i != std::string_view::npos && i < value.size()) {
    ++i;  // past ';'
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
    if (i == value.size()) break;  // a trailing ';'
    size_t eq = value.find('=', i);
    if (eq == std::string_view::npos) return std::nullopt;
    std::string name = Lower(Trim(value.substr(i, eq - i)));
    if (name.empty()) return std::nullopt;
    i = eq + 1;
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
    std::string v;
    if (i < value.size() && value[i] == '"') {
      ++i;
      bool closed = false;
      while (i < value.size()) {
        char c = value[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && i < value.size()) c = value[i++];
        v += c;
      }
      if (!closed) return std::nullopt;
      while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
      if (i < value.size() && value[i] != ';') return std::nullopt;
    } else {
      size_t end = value.find(';', i);
      v = std::string(Trim(value.substr(i, end == std::string_view::npos ? end : end - i)));
      i = end;
    }
    out.params.emplace_back(std::move(name), std::move(v));
  }
  return out;
}

bool BoundaryChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

// Fills `part` from its header block (lines separated by CRLF, without the blank line).
Status ReadPartHeaders(std::string_view block, size_t index, const MultipartLimits& limits,
                       MultipartPart* part) {
  const std::string where = "part " + std::to_string(index + 1);
  bool disposition = false;
  while (!block.empty()) {
    size_t eol = block.find("\r\n");
    std::string_view line = block.substr(0, eol);
    block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Bad("body", where + " has a malformed header line");
    }
    for (char c : line) {
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
        return Bad("body", where + " has a control character in a header");
      }
    }
    std::string name = Lower(line.substr(0, colon));
    std::string_view value = Trim(line.substr(colon + 1));
    if (name == "content-type") {
      part->content_type = Lower(Trim(value.substr(0, value.find(';'))));
    } else if (name == "content-disposition") {
      if (disposition) return Bad("body", where + " has two Content-Disposition headers");
      disposition = true;
      std::optional<Parameterized> d = ParseParameterized(value);
      if (!d || d->type != "form-data") {
        return Bad("body", where + ": Content-Disposition must be form-data; name=\"...\"");
      }
      const std::string* field = d->Find("name");
      if (field == nullptr || field->empty()) {
        return Bad("body", where + ": Content-Disposition has no name");
      }
      if (field->size() > limits.max_name_bytes) {
        return Bad("body", where + ": the field name is over " +
                               std::to_string(limits.max_name_bytes) + " bytes");
      }
      part->name = *field;
      if (const std::string* file = d->Find("filename")) {
        if (file->size() > limits.max_filename_bytes) {
          return Bad("body", where + ": the file name is over " +
                                 std::to_string(limits.max_filename_bytes) + " bytes");
        }
        part->filename = *file;
      }
    }
  }
  if (!disposition) return Bad("body", where + " has no Content-Disposition header");
  return Status::Ok();
}

}  // namespace

Result<std::string> MultipartBoundary(std::string_view content_type) {
  auto bad = [](const std::string& message) { return Bad("Content-Type", message); };
  std::optional<Parameterized> parsed = ParseParameterized(content_type);
  if (!parsed || parsed->type != "multipart/form-data") {
    return bad("must be multipart/form-data; boundary=...");
  }
  const std::string* boundary = parsed->Find("boundary");
  if (boundary == nullptr) return bad("multipart/form-data needs a boundary parameter");
  if (boundary->empty() || boundary->size() > 70 || boundary->back() == ' ') {
    return bad("the boundary must be 1 to 70 characters, not ending in a space");
  }
  for (char c : *boundary) {
    if (!BoundaryChar(c)) return bad("the boundary has a character RFC 2046 does not allow");
  }
  return *boundary;
}

Result<std::vector<MultipartPart>> ParseMultipart(std::string_view body, std::string_view boundary,
                                                  const MultipartLimits& limits) {
  if (boundary.empty()) return Bad("body", "no boundary");
  const std::string delimiter = "\r\n--" + std::string(boundary);
  // The first boundary may open the body (no CRLF before it) or follow a preamble.
  size_t pos;
  if (body.substr(0, delimiter.size() - 2) == std::string_view(delimiter).substr(2)) {
    pos = delimiter.size() - 2;
  } else {
    size_t found = body.find(delimiter);
    if (found == std::string_view::npos) {
      return Bad("body", "no multipart boundary (the one Content-Type names) in the body");
    }
    pos = found + delimiter.size();
  }
  std::vector<MultipartPart> parts;
  while (true) {
    if (body.substr(pos, 2) == "--") return parts;  // the closing boundary
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    if (body.substr(pos, 2) != "\r\n") {
      return Bad("body", "a boundary line must end with CRLF");
    }
    pos += 2;
    if (parts.size() == limits.max_parts) {
      return Bad("body", "more than " + std::to_string(limits.max_parts) + " parts");
    }
    // The header block ends at the first empty line (which may come at once: no headers).
    const std::string which = "part " + std::to_string(parts.size() + 1);
    size_t block_end = body.substr(pos, 2) == "\r\n" ? pos : body.find("\r\n\r\n", pos);
    if (block_end == std::string_view::npos || block_end - pos > limits.max_header_bytes) {
      return Bad("body",
                 block_end == std::string_view::npos && body.size() - pos <= limits.max_header_bytes
                     ? which + "'s headers never end"
                     : which + "'s headers are over " + std::to_string(limits.max_header_bytes) +
                           " bytes");
    }
    MultipartPart part;
    if (Status s = ReadPartHeaders(body.substr(pos, block_end - pos), parts.size(), limits, &part);
        !s.ok()) {
      return s;
    }
    size_t content = block_end + (block_end == pos ? 2 : 4);
    size_t end = body.find(delimiter, content);
    if (end == std::string_view::npos) {
      return Bad("body", which + " is not closed by a boundary (the body is cut short?)");
    }
    part.body = body.substr(content, end - content);
    parts.push_back(std::move(part));
    pos = end + delimiter.size();
  }
}

}  // namespace stipple::http
