#include "engine/tokenizer.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

namespace stipple {
namespace {

bool IsWordByte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

Result<std::unique_ptr<WordTokenizer>> WordTokenizer::FromTokens(std::vector<std::string> tokens,
                                                                 int max_length) {
  if (max_length < 2) return InvalidArgumentError("tokenizer: max_length must be at least 2");
  std::unique_ptr<WordTokenizer> t(new WordTokenizer());
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].empty()) {
      return InvalidArgumentError("vocabulary: token " + std::to_string(i) + " is empty");
    }
    if (!t->ids_.emplace(tokens[i], static_cast<int32_t>(i)).second) {
      return InvalidArgumentError("vocabulary: token '" + tokens[i] + "' appears twice");
    }
  }
  for (auto [name, id] : {std::pair{"<pad>", &t->pad_}, std::pair{"<bos>", &t->bos_},
                          std::pair{"<eos>", &t->eos_}, std::pair{"<unk>", &t->unk_}}) {
    auto it = t->ids_.find(name);
    if (it == t->ids_.end()) {
      return InvalidArgumentError(std::string("vocabulary: the special token ") + name +
                                  " is missing");
    }
    *id = it->second;
  }
  t->tokens_ = std::move(tokens);
  t->max_length_ = max_length;
  return t;
}

Result<std::unique_ptr<WordTokenizer>> WordTokenizer::LoadVocabularyFile(const std::string& path,
                                                                         int max_length) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return NotFoundError("vocabulary " + path + ": no such file");
    return UnavailableError("vocabulary " + path + ": " + std::strerror(errno));
  }
  std::vector<std::string> tokens;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    tokens.push_back(line);
  }
  Result<std::unique_ptr<WordTokenizer>> t = FromTokens(std::move(tokens), max_length);
  if (!t.ok()) return t.status().WithContext(path);
  return t;
}

std::vector<std::string> WordTokenizer::SplitWords(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  for (char c : text) {
    if (IsWordByte(c)) {
      word.push_back(Lower(c));
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

std::vector<int32_t> WordTokenizer::Encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(max_length_);
  ids.push_back(bos_);
  for (const std::string& word : SplitWords(text)) {
    if (static_cast<int>(ids.size()) == max_length_ - 1) break;
    auto it = ids_.find(word);
    ids.push_back(it == ids_.end() ? unk_ : it->second);
  }
  ids.push_back(eos_);
  ids.resize(max_length_, pad_);
  return ids;
}

}  // namespace stipple
