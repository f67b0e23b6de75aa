#include <charconv>
#include <set>

#include "engine/ldm_internal.h"

namespace stipple::ldm {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// The source shape an entry accepts, given its diffusers shape.
bool SourceShapeFits(const PlanEntry& entry, const Shape& got) {
  const Shape& want = entry.shape;
  switch (entry.take) {
    case Take::kAsIs: return got == want;
    case Take::kSqueeze: {
      if (got == want) return true;
      Shape conv = want;
      conv.push_back(1);
      if (got == conv) return true;
      conv.push_back(1);
      return got == conv;
    }
    case Take::kSplit0:
    case Take::kSplit1:
    case Take::kSplit2: {
      if (want.empty() || got.size() != want.size()) return false;
      if (got[0] != 3 * want[0]) return false;
      return std::equal(got.begin() + 1, got.end(), want.begin() + 1);
    }
    case Take::kTranspose: return want.size() == 2 && got == Shape{want[1], want[0]};
  }
  return false;
}

std::string SourceShapeWanted(const PlanEntry& entry) {
  Shape s = entry.shape;
  switch (entry.take) {
    case Take::kAsIs: break;
    case Take::kSqueeze:
      return ShapeString(s) + " or " + ShapeString([&] {
               Shape c = s;
               c.insert(c.end(), {1, 1});
               return c;
             }());
    case Take::kSplit0:
    case Take::kSplit1:
    case Take::kSplit2: s[0] *= 3; break;
    case Take::kTranspose: s = {s[1], s[0]}; break;
  }
  return ShapeString(s);
}

}  // namespace

std::string ShapeString(const Shape& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

Status LdmError(std::string_view source, const std::string& message) {
  return InvalidArgumentError("single-file checkpoint " + std::string(source) + ": " + message);
}

namespace {

template <typename Map>
bool MapHasPrefix(const Map& map, std::string_view prefix) {
  auto it = map.lower_bound(std::string(prefix));
  return it != map.end() && StartsWith(it->first, prefix);
}

}  // namespace

bool SourceKeys::HasPrefix(std::string_view prefix) const {
  return MapHasPrefix(tensors_, prefix) || MapHasPrefix(skipped_, prefix);
}

Status SourceKeys::Missing(const std::string& name, const std::string& context) const {
  const std::string suffix = context.empty() ? "" : " (" + context + ")";
  auto it = skipped_.find(name);
  if (it != skipped_.end()) {
    return Error("tensor " + name + " has dtype " + it->second +
                 "; model weights must be F32, F16 or BF16" + suffix);
  }
  return Error("missing tensor " + name + suffix);
}

Result<Shape> SourceKeys::ShapeOf(const std::string& name, int rank) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) return Missing(name);
  if (rank >= 0 && static_cast<int>(it->second.shape.size()) != rank) {
    return Error("tensor " + name + " has shape " + ShapeString(it->second.shape) + ", expected " +
                 std::to_string(rank) + " dimensions");
  }
  for (int64_t d : it->second.shape) {
    if (d <= 0 || d > (int64_t{1} << 31)) {
      return Error("tensor " + name + " has shape " + ShapeString(it->second.shape));
    }
  }
  return it->second.shape;
}

Result<int> SourceKeys::Count(std::string_view prefix) const {
  std::set<int> indices;
  std::vector<std::string> names;
  for (auto it = tensors_.lower_bound(std::string(prefix));
       it != tensors_.end() && StartsWith(it->first, prefix); ++it) {
    names.push_back(it->first);
  }
  for (auto it = skipped_.lower_bound(std::string(prefix));
       it != skipped_.end() && StartsWith(it->first, prefix); ++it) {
    names.push_back(it->first);
  }
  for (const std::string& name : names) {
    std::string_view rest = std::string_view(name).substr(prefix.size());
    int index = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), index);
    if (ec != std::errc() || end == rest.data() || end == rest.data() + rest.size() ||
        *end != '.' || index < 0 || index > 100000) {
      return Error("tensor " + name + " does not fit the layout (" + std::string(prefix) +
                   "<index>.*)");
    }
    indices.insert(index);
  }
  int n = 0;
  for (int i : indices) {
    if (i != n) {
      return Error("tensors " + std::string(prefix) + std::to_string(i) + ".* present but " +
                   std::string(prefix) + std::to_string(n) + ".* missing");
    }
    ++n;
  }
  return n;
}

Status ApplyPlan(const Plan& plan, const SourceKeys& keys, TensorMap& tensors, TensorMap& out) {
  const std::string_view source = keys.source();
  for (const PlanEntry& entry : plan.entries) {
    auto it = tensors.find(entry.source);
    if (it == tensors.end()) return keys.Missing(entry.source, plan.part + " " + entry.diffusers);
    if (!SourceShapeFits(entry, it->second.shape)) {
      return LdmError(source, "tensor " + entry.source + " has shape " +
                                  ShapeString(it->second.shape) + " but the inferred " + plan.part +
                                  " configuration needs " + SourceShapeWanted(entry) + " (" +
                                  plan.part + " " + entry.diffusers + ")");
    }
    if (out.count(entry.diffusers) > 0) {
      return InternalError("ldm plan: " + plan.part + " " + entry.diffusers + " planned twice");
    }
  }
  std::set<std::string> split_sources;
  for (const PlanEntry& entry : plan.entries) {
    if (entry.take == Take::kSplit0 || entry.take == Take::kSplit1 || entry.take == Take::kSplit2) {
      const FloatTensor& from = tensors.at(entry.source);
      const size_t part = from.values.size() / 3;
      const size_t k = entry.take == Take::kSplit0 ? 0 : entry.take == Take::kSplit1 ? 1 : 2;
      FloatTensor piece;
      piece.shape = entry.shape;
      piece.values.assign(from.values.begin() + static_cast<std::ptrdiff_t>(k * part),
                          from.values.begin() + static_cast<std::ptrdiff_t>((k + 1) * part));
      out.emplace(entry.diffusers, std::move(piece));
      split_sources.insert(entry.source);
      continue;
    }
    auto node = tensors.extract(entry.source);
    if (node.empty()) {
      return InternalError("ldm plan: " + entry.source + " taken twice for " + plan.part);
    }
    FloatTensor& tensor = node.mapped();
    if (entry.take == Take::kTranspose && !tensor.values.empty()) {  // empty: header only
      const int64_t rows = tensor.shape[0], cols = tensor.shape[1];
      std::vector<float> t(tensor.values.size());
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) t[c * rows + r] = tensor.values[r * cols + c];
      }
      tensor.values = std::move(t);
    }
    tensor.shape = entry.shape;
    node.key() = entry.diffusers;
    out.insert(std::move(node));
  }
  for (const std::string& name : split_sources) tensors.erase(name);
  return Status::Ok();
}

}  // namespace stipple::ldm
