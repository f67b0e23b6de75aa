#include "engine/clip_tokenizer.h"

#include <unicode/uchar.h>
#include <unicode/ustring.h>
#include <unicode/utf8.h>

#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "engine/html_unescape.h"
#include "engine/utf8.h"

namespace stipple {
namespace {

namespace json = boost::json;

constexpr size_t kMaxCacheEntries = 1 << 16;
constexpr std::u32string_view kStartOfText = U"<|startoftext|>";
constexpr std::u32string_view kEndOfText = U"<|endoftext|>";

// ---- Unicode ----

// Unicode White_Space (what the split pattern's \s matches).
bool IsWhiteSpace(char32_t c) {
  return u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_WHITE_SPACE);
}
// White_Space and the separators U+001C..U+001F: what Python's str.strip() removes.
bool IsStripped(char32_t c) { return IsWhiteSpace(c) || (c >= 0x1C && c <= 0x1F); }
bool IsLetter(char32_t c) { return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_L_MASK) != 0; }
bool IsNumber(char32_t c) { return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_N_MASK) != 0; }

std::u32string_view Strip(std::u32string_view s) {
  while (!s.empty() && IsStripped(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsStripped(s.back())) s.remove_suffix(1);
  return s;
}

// Full lower-casing in the root locale (through UTF-16, ICU's string form).
std::u32string Lower(std::u32string_view s) {
  if (s.empty()) return {};
  UErrorCode err = U_ZERO_ERROR;
  std::u16string utf16(s.size() * 2, u'\0');
  int32_t len16 = 0;
  u_strFromUTF32(reinterpret_cast<UChar*>(utf16.data()), static_cast<int32_t>(utf16.size()), &len16,
                 reinterpret_cast<const UChar32*>(s.data()), static_cast<int32_t>(s.size()), &err);
  if (U_FAILURE(err)) return std::u32string(s);
  std::u16string lower(static_cast<size_t>(len16) * 3 + 1, u'\0');
  int32_t lower_len =
      u_strToLower(reinterpret_cast<UChar*>(lower.data()), static_cast<int32_t>(lower.size()),
                   reinterpret_cast<const UChar*>(utf16.data()), len16, "", &err);
  if (U_FAILURE(err)) return std::u32string(s);
  std::u32string out(static_cast<size_t>(lower_len), U'\0');
  int32_t len32 = 0;
  u_strToUTF32(reinterpret_cast<UChar32*>(out.data()), static_cast<int32_t>(out.size()), &len32,
               reinterpret_cast<const UChar*>(lower.data()), lower_len, &err);
  if (U_FAILURE(err)) return std::u32string(s);
  out.resize(static_cast<size_t>(len32));
  return out;
}

std::u32string Clean(std::string_view text) {
  std::u32string s = HtmlUnescape(HtmlUnescape(DecodeUtf8(text)));
  std::u32string_view stripped = Strip(s);
  std::u32string collapsed;
  collapsed.reserve(stripped.size());
  for (size_t i = 0; i < stripped.size();) {
    if (IsWhiteSpace(stripped[i])) {
      collapsed.push_back(U' ');
      while (i < stripped.size() && IsWhiteSpace(stripped[i])) ++i;
    } else {
      collapsed.push_back(stripped[i++]);
    }
  }
  return Lower(Strip(collapsed));
}

// ---- Splitting ----

// Whether `literal` (ASCII, lower case) starts at s[i], matching as the case-insensitive pattern
// does on lower-cased text (U+017F folds to 's').
bool MatchesAt(std::u32string_view s, size_t i, std::u32string_view literal) {
  if (s.size() - i < literal.size()) return false;
  for (size_t k = 0; k < literal.size(); ++k) {
    const char32_t c = s[i + k];
    if (c != literal[k] && !(literal[k] == U's' && c == U'\u017F')) return false;
  }
  return true;
}

// Characters no alternative of the pattern matches, skipped like White_Space. U+0345 (a
// combining mark) is the one character besides White_Space: the pattern is compiled
// case-insensitively, and as the `regex` module folds it to a letter (iota), neither the letter
// class nor the negated class takes it.
bool IsSkipped(char32_t c) { return c == U'\u0345' || IsWhiteSpace(c); }

// Length of the pattern's match at s[i], 0 when none (s[i] is skipped).
size_t MatchLength(std::u32string_view s, size_t i) {
  if (MatchesAt(s, i, kStartOfText)) return kStartOfText.size();
  if (MatchesAt(s, i, kEndOfText)) return kEndOfText.size();
  if (s[i] == U'\'') {
    for (std::u32string_view c : {U"s", U"t", U"re", U"ve", U"m", U"ll", U"d"}) {
      if (MatchesAt(s, i + 1, c)) return 1 + c.size();
    }
  }
  size_t j = i;
  if (IsLetter(s[i])) {
    while (j < s.size() && IsLetter(s[j])) ++j;
    return j - i;
  }
  if (IsNumber(s[i])) return 1;
  while (j < s.size() && !IsSkipped(s[j]) && !IsLetter(s[j]) && !IsNumber(s[j])) ++j;
  return j - i;
}

std::vector<std::u32string_view> Split(std::u32string_view s) {
  std::vector<std::u32string_view> pieces;
  for (size_t i = 0; i < s.size();) {
    const size_t len = MatchLength(s, i);
    if (len == 0) {
      ++i;
    } else {
      pieces.push_back(s.substr(i, len));
      i += len;
    }
  }
  return pieces;
}

// ---- Byte-level BPE ----

// GPT-2's table: printable Latin-1 bytes stand for themselves, the other bytes for U+0100 on.
const std::array<std::string, 256>& ByteSymbols() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const char32_t c = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + next++);
      t[b] = EncodeUtf8(std::u32string(1, c));
    }
    return t;
  }();
  return table;
}

// ---- Files ----

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return NotFoundError(path + ": no such file");
    return UnavailableError(path + ": " + std::strerror(errno));
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// A special token in a tokenizer json: "text" or {"content": "text", ...}.
Status ReadToken(const json::object& o, const char* key, const std::string& file,
                 std::string* out) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return Status::Ok();
  if (v->is_string()) {
    *out = std::string(v->as_string());
    return Status::Ok();
  }
  if (v->is_object()) {
    const json::value* content = v->as_object().if_contains("content");
    if (content != nullptr && content->is_string()) {
      *out = std::string(content->as_string());
      return Status::Ok();
    }
  }
  return InvalidArgumentError(file + ": " + key + " must be a string or {\"content\": string}",
                              {{key, "must be a string or {\"content\": string}"}});
}

// Applies tokenizer_config.json / special_tokens_map.json at `path` when it exists.
Status ReadOptionsFile(const std::string& path, bool has_max_length,
                       ClipTokenizerOptions* options) {
  if (!std::filesystem::exists(path)) return Status::Ok();
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  boost::system::error_code ec;
  json::value doc = json::parse(*text, ec);
  if (ec || !doc.is_object()) return InvalidArgumentError(path + ": not a JSON object");
  const json::object& o = doc.as_object();
  if (has_max_length) {
    if (const json::value* v = o.if_contains("model_max_length"); v != nullptr) {
      const double n = v->is_number() ? v->to_number<double>() : -1;
      if (n < 3 || n > 65536 || n != static_cast<double>(static_cast<int>(n))) {
        return InvalidArgumentError(path + ": model_max_length must be an integer in 3..65536",
                                    {{"model_max_length", "must be an integer in 3..65536"}});
      }
      options->max_length = static_cast<int>(n);
    }
  }
  for (auto [key, out] :
       {std::pair{"bos_token", &options->bos_token}, std::pair{"eos_token", &options->eos_token},
        std::pair{"pad_token", &options->pad_token}, std::pair{"unk_token", &options->unk_token}}) {
    if (Status s = ReadToken(o, key, path, out); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<ClipTokenizer>> ClipTokenizer::FromText(std::string_view vocab_json,
                                                               std::string_view merges_txt,
                                                               const ClipTokenizerOptions& options,
                                                               std::string_view vocab_name,
                                                               std::string_view merges_name) {
  const std::string vname(vocab_name), mname(merges_name);
  if (options.max_length < 3) {
    return InvalidArgumentError("tokenizer: max_length must be at least 3");
  }
  std::unique_ptr<ClipTokenizer> t(new ClipTokenizer());
  t->options_ = options;

  boost::system::error_code ec;
  json::value doc = json::parse(vocab_json, ec);
  if (ec || !doc.is_object() || doc.as_object().empty()) {
    return InvalidArgumentError(vname + ": not a JSON object of {token: id}");
  }
  std::vector<bool> used;
  for (const auto& [key, value] : doc.as_object()) {
    if (!value.is_int64() || value.as_int64() < 0 || value.as_int64() >= (1 << 24)) {
      return InvalidArgumentError(vname + ": the id of '" + std::string(key) +
                                  "' is not an integer in 0..16777215");
    }
    const auto id = static_cast<int32_t>(value.as_int64());
    if (static_cast<size_t>(id) >= used.size()) used.resize(static_cast<size_t>(id) + 1);
    if (used[static_cast<size_t>(id)]) {
      return InvalidArgumentError(vname + ": id " + std::to_string(id) + " is used twice");
    }
    used[static_cast<size_t>(id)] = true;
    t->vocab_.emplace(std::string(key), id);
  }
  t->vocab_size_ = static_cast<int>(used.size());

  size_t line_number = 0;
  std::string_view rest = merges_txt;
  while (!rest.empty()) {
    const size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_number == 1 && line.substr(0, 8) == "#version")) continue;
    const size_t space = line.find(' ');
    if (space == 0 || space == std::string_view::npos || space + 1 == line.size() ||
        line.find(' ', space + 1) != std::string_view::npos) {
      return InvalidArgumentError(mname + " line " + std::to_string(line_number) +
                                  ": not a merge \"first second\"");
    }
    const auto rank = static_cast<int32_t>(t->ranks_.size());
    t->ranks_.emplace(std::string(line), rank);  // a repeated merge keeps its first rank
  }
  if (t->ranks_.empty()) return InvalidArgumentError(mname + ": no merges");

  for (auto [name, id] :
       {std::pair{&options.bos_token, &t->bos_}, std::pair{&options.eos_token, &t->eos_},
        std::pair{&options.pad_token, &t->pad_}, std::pair{&options.unk_token, &t->unk_}}) {
    *id = t->TokenId(*name);
    if (*id < 0) {
      return InvalidArgumentError(vname + ": the special token '" + *name + "' is missing");
    }
  }
  return t;
}

Result<std::unique_ptr<ClipTokenizer>> ClipTokenizer::LoadDirectory(const std::string& dir) {
  const std::filesystem::path root(dir);
  ClipTokenizerOptions options;
  if (Status s = ReadOptionsFile(root / "tokenizer_config.json", true, &options); !s.ok()) {
    return s;
  }
  if (Status s = ReadOptionsFile(root / "special_tokens_map.json", false, &options); !s.ok()) {
    return s;
  }
  const std::string vocab_path = root / "vocab.json", merges_path = root / "merges.txt";
  Result<std::string> vocab = ReadFile(vocab_path);
  if (!vocab.ok()) return vocab.status();
  Result<std::string> merges = ReadFile(merges_path);
  if (!merges.ok()) return merges.status();
  return FromText(*vocab, *merges, options, vocab_path, merges_path);
}

int32_t ClipTokenizer::TokenId(std::string_view token) const {
  auto it = vocab_.find(std::string(token));
  return it == vocab_.end() ? -1 : it->second;
}

std::string ClipTokenizer::CleanText(std::string_view text) { return EncodeUtf8(Clean(text)); }

std::vector<std::string> ClipTokenizer::SplitWords(std::string_view text) {
  const std::u32string clean = Clean(text);
  std::vector<std::string> words;
  for (std::u32string_view piece : Split(clean)) words.push_back(EncodeUtf8(piece));
  return words;
}

std::vector<int32_t> ClipTokenizer::Bpe(const std::string& piece) const {
  const auto& bytes = ByteSymbols();
  std::vector<std::string> word;
  for (unsigned char b : piece) word.push_back(bytes[b]);
  word.back() += "</w>";
  std::string key;
  while (word.size() > 1) {
    int32_t best_rank = INT32_MAX;
    size_t best = 0;
    for (size_t j = 0; j + 1 < word.size(); ++j) {
      key.assign(word[j]).append(" ").append(word[j + 1]);
      auto it = ranks_.find(key);
      if (it != ranks_.end() && it->second < best_rank) {
        best_rank = it->second;
        best = j;
      }
    }
    if (best_rank == INT32_MAX) break;
    const std::string first = word[best], second = word[best + 1];
    std::vector<std::string> merged;
    merged.reserve(word.size());
    for (size_t j = 0; j < word.size();) {
      if (j + 1 < word.size() && word[j] == first && word[j + 1] == second) {
        merged.push_back(first + second);
        j += 2;
      } else {
        merged.push_back(std::move(word[j]));
        ++j;
      }
    }
    word = std::move(merged);
  }
  std::vector<int32_t> ids;
  ids.reserve(word.size());
  for (const std::string& symbol : word) {
    auto it = vocab_.find(symbol);
    ids.push_back(it == vocab_.end() ? unk_ : it->second);
  }
  return ids;
}

void ClipTokenizer::EncodePiece(const std::string& piece, std::vector<int32_t>* ids) const {
  if (piece == "<|startoftext|>" || piece == "<|endoftext|>") {
    if (const int32_t id = TokenId(piece); id >= 0) {
      ids->push_back(id);
      return;
    }
  }
  {
    MutexLock lock(cache_mutex_);
    auto it = cache_.find(piece);
    if (it != cache_.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> piece_ids = Bpe(piece);
  ids->insert(ids->end(), piece_ids.begin(), piece_ids.end());
  MutexLock lock(cache_mutex_);
  if (cache_.size() >= kMaxCacheEntries) cache_.clear();
  cache_.emplace(piece, std::move(piece_ids));
}

std::vector<int32_t> ClipTokenizer::Tokenize(std::string_view text) const {
  const std::u32string clean = Clean(text);
  std::vector<int32_t> ids;
  for (std::u32string_view piece : Split(clean)) EncodePiece(EncodeUtf8(piece), &ids);
  return ids;
}

std::vector<int32_t> ClipTokenizer::Encode(std::string_view text) const {
  const size_t limit = static_cast<size_t>(options_.max_length) - 2;
  const std::u32string clean = Clean(text);
  std::vector<int32_t> ids = {bos_};
  for (std::u32string_view piece : Split(clean)) {
    if (ids.size() - 1 >= limit) break;
    EncodePiece(EncodeUtf8(piece), &ids);
  }
  if (ids.size() - 1 > limit) ids.resize(limit + 1);
  ids.push_back(eos_);
  ids.resize(static_cast<size_t>(options_.max_length), pad_);
  return ids;
}

}  // namespace stipple
