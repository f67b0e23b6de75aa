#include "engine/html_unescape.h"

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>

#include "engine/utf8.h"

namespace stipple {
namespace {

#include "engine/html_entities.inc"

// Name (ASCII, with its ';' when it has one) → replacement.
const std::unordered_map<std::string, std::u32string>& NamedReferences() {
  static const auto* table = [] {
    auto* map = new std::unordered_map<std::string, std::u32string>();
    std::string_view rest = kNamedReferences;
    while (!rest.empty()) {
      const size_t mid = rest.find('\x1f');
      const size_t end = rest.find('\x1e', mid);
      map->emplace(std::string(rest.substr(0, mid)),
                   DecodeUtf8(rest.substr(mid + 1, end - mid - 1)));
      rest.remove_prefix(end + 1);
    }
    return map;
  }();
  return *table;
}

bool IsDigit(char32_t c) { return c >= U'0' && c <= U'9'; }
bool IsHexDigit(char32_t c) {
  return IsDigit(c) || (c >= U'a' && c <= U'f') || (c >= U'A' && c <= U'F');
}
int HexValue(char32_t c) {
  if (IsDigit(c)) return static_cast<int>(c - U'0');
  if (c >= U'a' && c <= U'f') return static_cast<int>(c - U'a' + 10);
  return static_cast<int>(c - U'A' + 10);
}

// The characters a numeric reference to `value` stands for (value > 0x10FFFF: out of range).
std::u32string NumericReference(uint32_t value) {
  for (const auto& [from, to] : kRemappedReferences) {
    if (value == from) return std::u32string(1, to);
  }
  if ((value >= 0xD800 && value <= 0xDFFF) || value > 0x10FFFF) return U"\uFFFD";
  const bool dropped = (value >= 0x1 && value <= 0x8) || value == 0xB ||
                       (value >= 0xE && value <= 0x1F) || (value >= 0x7F && value <= 0x9F) ||
                       (value >= 0xFDD0 && value <= 0xFDEF) || (value & 0xFFFE) == 0xFFFE;
  if (dropped) return U"";
  return std::u32string(1, static_cast<char32_t>(value));
}

bool EndsName(char32_t c) {
  return c == U'\t' || c == U'\n' || c == U'\f' || c == U' ' || c == U'<' || c == U'&' ||
         c == U'#' || c == U';';
}

// Looks up a candidate name; false when it is not ASCII or not a reference.
bool FindName(std::u32string_view name, std::u32string* value) {
  std::string ascii;
  for (char32_t c : name) {
    if (c >= 0x80) return false;
    ascii.push_back(static_cast<char>(c));
  }
  const auto& table = NamedReferences();
  auto it = table.find(ascii);
  if (it == table.end()) return false;
  *value = it->second;
  return true;
}

// Replaces the reference starting at text[i] == '&' (appending to *out) and returns the index
// after it; returns i when no reference starts there.
size_t ReplaceReference(std::u32string_view text, size_t i, std::u32string* out) {
  const size_t n = text.size();
  size_t j = i + 1;
  if (j < n && text[j] == U'#') {
    size_t k = j + 1;
    const bool hex = k < n && !IsDigit(text[k]) && (text[k] == U'x' || text[k] == U'X');
    if (hex) ++k;
    const size_t digits_begin = k;
    uint32_t value = 0;
    while (k < n && (hex ? IsHexDigit(text[k]) : IsDigit(text[k]))) {
      const uint32_t digit = hex ? HexValue(text[k]) : static_cast<uint32_t>(text[k] - U'0');
      value = value > 0x10FFFF ? value : value * (hex ? 16 : 10) + digit;  // saturates
      ++k;
    }
    if (k == digits_begin) return i;
    if (k < n && text[k] == U';') ++k;
    out->append(NumericReference(value));
    return k;
  }
  size_t k = j;
  while (k < n && k - j < 32 && !EndsName(text[k])) ++k;
  if (k == j) return i;
  if (k < n && text[k] == U';') ++k;
  const std::u32string_view s = text.substr(j, k - j);
  std::u32string value;
  if (FindName(s, &value)) {
    out->append(value);
    return k;
  }
  for (size_t x = s.size() - 1; x >= 2; --x) {
    if (FindName(s.substr(0, x), &value)) {
      out->append(value);
      out->append(s.substr(x));
      return k;
    }
  }
  out->push_back(U'&');
  out->append(s);
  return k;
}

}  // namespace

std::u32string HtmlUnescape(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == U'&') {
      const size_t next = ReplaceReference(text, i, &out);
      if (next != i) {
        i = next;
        continue;
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

}  // namespace stipple
