// Layer-aware precision: which tensor groups the items are sensitive to, and a recipe that
// spends a size budget on them (docs/fidelity.md, "Sensitivity").
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>

#include "clinbench/fidelity.h"
#include "fidelity/measure.h"
#include "util/atomic_file.h"

namespace clinbench {

namespace {

std::string regex_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') out += '\\';
    out += c;
  }
  return out;
}

// The group a block tensor belongs to: its kind after "blk.N.", every ffn_* matrix together.
std::string group_name(const TensorInfo& t) {
  std::string stem = t.name;
  if (stem.ends_with(".weight")) stem.resize(stem.size() - 7);
  if (t.layer < 0) return stem;
  const std::string prefix = fmt::format("blk.{}.", t.layer);
  std::string kind = stem.starts_with(prefix) ? stem.substr(prefix.size()) : stem;
  if (kind.starts_with("ffn_")) kind = "ffn";
  return prefix + kind;
}

// Bytes of every tensor with every quantizable one at `type` (block-size fallbacks applied).
Result<std::map<std::string, uint64_t>> bytes_at(const ModelInfo& model, const std::string& type) {
  Recipe r{"uniform " + type, "", {{".*", type, false}}};
  auto choices = apply_recipe(r, Strategy::kQuantizeQ4, model);
  if (!choices) return std::unexpected(choices.error());
  std::map<std::string, uint64_t> out;
  for (const auto& c : *choices) out[c.name] = c.bytes;
  return out;
}

uint64_t total(const std::map<std::string, uint64_t>& bytes) {
  uint64_t sum = 0;
  for (const auto& [name, b] : bytes) sum += b;
  return sum;
}

uint64_t group_bytes(const TensorGroup& g, const std::map<std::string, uint64_t>& bytes) {
  uint64_t sum = 0;
  for (const auto& t : g.tensors) sum += bytes.at(t);
  return sum;
}

struct RecipeFile {
  std::string name;
  std::string text;  // rules only
};

Result<std::string> write_recipe(const std::filesystem::path& path, const std::string& text) {
  if (auto w = write_file_atomically(path, text); !w) return std::unexpected(w.error());
  return path.string();
}

std::string file_stem_for(const std::string& name) {
  std::string s;
  for (char c : name) s += std::isalnum(static_cast<unsigned char>(c)) || c == '.' ? c : '-';
  return s;
}

RecipeMeasurement measurement(const std::string& name, const std::string& path,
                              const CandidateResult& c) {
  RecipeMeasurement m;
  m.name = name;
  m.path = path;
  m.weight_bytes = c.use.weight_bytes;
  m.bits_per_weight = c.use.bits_per_weight;
  m.kl_mean = c.kl_mean;
  m.kl_p99 = c.kl_p99;
  m.trace_kl_mean = c.trace_kl_mean;
  m.flips = c.flipped.size();
  return m;
}

using SizeTable =
    std::map<std::string, std::map<std::string, uint64_t>>;  // type -> tensor -> bytes

// Adds the model's sizes at `type` unless they are there; an unknown type is an error naming
// the flag.
Result<void> add_sizes(SizeTable& sizes, const ModelInfo& model, const std::string& type,
                       const char* flag) {
  if (sizes.contains(type)) return {};
  auto b = bytes_at(model, type);
  if (!b) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("{}: unknown tensor type '{}'", flag, type));
  }
  sizes[type] = std::move(*b);
  return {};
}

// The reference's facts; an error unless its weights are stored as floats.
Result<ModelInfo> read_float_reference(const FidelityModel& reference) {
  auto info = read_model_info(reference.path, {.hash = false});
  if (!info) return std::unexpected(info.error());
  if (!is_float_type(info->dominant_type)) {
    return make_error(ErrorCode::kUnsupported,
                      fmt::format("{}: weights are stored as {}; --sensitivity needs a reference "
                                  "stored as f32, f16 or bf16",
                                  reference.path, info->dominant_type));
  }
  return info;
}

// The sizes at --low and --high; an error unless uniform high is the larger.
Result<SizeTable> low_high_sizes(const ModelInfo& model, const SensitivityOptions& o) {
  SizeTable sizes;
  if (auto r = add_sizes(sizes, model, o.low_type, "--low"); !r) return std::unexpected(r.error());
  if (auto r = add_sizes(sizes, model, o.high_type, "--high"); !r) {
    return std::unexpected(r.error());
  }
  const uint64_t low_total = total(sizes[o.low_type]);
  const uint64_t high_total = total(sizes[o.high_type]);
  if (high_total <= low_total) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--high {} is not larger than --low {} on this model ({} vs {} "
                                  "bytes)",
                                  o.high_type, o.low_type, high_total, low_total));
  }
  return sizes;
}

// The budget, into rep: the target in bytes or bits per weight, else halfway between uniform low
// and uniform high; an error when uniform low does not fit it.
Result<void> set_target(SensitivityReport& rep, const ModelInfo& model, const SensitivityOptions& o,
                        uint64_t low_total, uint64_t high_total) {
  uint64_t elements = 0;
  for (const auto& t : model.tensors) {
    elements += static_cast<uint64_t>(t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3]);
  }
  if (o.target_bytes) {
    rep.target_bytes = *o.target_bytes;
  } else if (o.target_bpw) {
    rep.target_bytes = static_cast<uint64_t>(*o.target_bpw * static_cast<double>(elements) / 8);
  } else {
    rep.target_bytes = (low_total + high_total) / 2;
  }
  rep.target_bpw = static_cast<double>(rep.target_bytes) * 8 / static_cast<double>(elements);
  if (rep.target_bytes < low_total) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("target of {} bytes ({:.2f} bits per weight) is below the "
                                  "uniform {} recipe's {} bytes: no recipe fits it",
                                  rep.target_bytes, rep.target_bpw, o.low_type, low_total));
  }
  return {};
}

// out_dir/recipes, created if need be.
Result<std::filesystem::path> recipes_dir(const std::string& out_dir) {
  const std::filesystem::path dir = std::filesystem::path(out_dir) / "recipes";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return make_error(ErrorCode::kIo,
                      fmt::format("{}: cannot create: {}", dir.string(), ec.message()));
  }
  return dir;
}

// Writes a recipe file under dir and measures the reference model loaded with it against the
// reference run.
struct RecipeMeasurer {
  const ReferenceRun& ref;
  const std::string& model_path;
  const std::filesystem::path& dir;
  const FidelityOptions& options;

  Result<CandidateResult> operator()(const std::string& label, const std::string& file,
                                     const std::string& text) const {
    auto path = write_recipe(dir / file, text);
    if (!path) return std::unexpected(path.error());
    FidelityModel m{label, model_path, Strategy::kQuantizeQ4, *path};
    return measure_candidate(ref, m, options);
  }
};

// 1. Each group alone at the low type, the rest as stored: the groups, most sensitive first.
Result<std::vector<GroupSensitivity>> rank_groups(const std::vector<TensorGroup>& groups,
                                                  const ModelInfo& model, const SizeTable& sizes,
                                                  const SensitivityOptions& o,
                                                  const RecipeMeasurer& measure) {
  std::map<std::string, uint64_t> ref_bytes;
  for (const auto& t : model.tensors) ref_bytes[t.name] = t.bytes;
  std::vector<GroupSensitivity> ranking;
  for (const auto& g : groups) {
    auto c = measure("group " + g.name, "group-" + file_stem_for(g.name) + ".txt",
                     fmt::format("{} {}\n.* keep\n", g.pattern, o.low_type));
    if (!c) return std::unexpected(c.error());
    GroupSensitivity s;
    s.group = g;
    s.bytes_reference = group_bytes(g, ref_bytes);
    s.bytes_low = group_bytes(g, sizes.at(o.low_type));
    s.bytes_high = group_bytes(g, sizes.at(o.high_type));
    s.kl_mean = c->kl_mean;
    s.kl_p99 = c->kl_p99;
    s.trace_kl_mean = c->trace_kl_mean;
    s.flips = c->flipped.size();
    ranking.push_back(std::move(s));
  }
  std::stable_sort(ranking.begin(), ranking.end(),
                   [](const GroupSensitivity& a, const GroupSensitivity& b) {
                     if (a.kl_mean != b.kl_mean) return a.kl_mean > b.kl_mean;
                     return a.trace_kl_mean > b.trace_kl_mean;
                   });
  return ranking;
}

struct UniformLadder {
  std::vector<std::string> steps;  // one type per distinct size, smallest first
  size_t within = 0;               // the largest step within the target
};

// 2. The uniform recipes this model can have, by size: the best one within the target is the
// one to beat. Adds their sizes to `sizes`.
UniformLadder uniform_ladder(SizeTable& sizes, const ModelInfo& model, const SensitivityOptions& o,
                             uint64_t target_bytes) {
  std::vector<std::string> ladder;
  for (const char* t : {"q2_K", "q3_K", "q4_0", "q4_K", "q5_0", "q5_K", "q6_K", "q8_0", "f16"}) {
    // A type this model cannot have is left off the ladder.
    if (auto r = add_sizes(sizes, model, t, "ladder"); r) ladder.push_back(t);
  }
  for (const auto& t : {o.low_type, o.high_type}) {
    if (std::find(ladder.begin(), ladder.end(), t) == ladder.end()) ladder.push_back(t);
  }
  std::stable_sort(ladder.begin(), ladder.end(), [&](const std::string& a, const std::string& b) {
    return total(sizes.at(a)) < total(sizes.at(b));
  });
  UniformLadder out;
  for (const auto& t : ladder) {
    if (out.steps.empty() || total(sizes.at(out.steps.back())) != total(sizes.at(t))) {
      out.steps.push_back(t);
    }
  }
  for (size_t i = 0; i < out.steps.size(); ++i) {
    if (total(sizes.at(out.steps[i])) <= target_bytes) out.within = i;
  }
  return out;
}

// 3. The recipes to measure: the uniform one to beat, then mixed ones: a base type below the
// uniform one, the most sensitive groups promoted to a type above it in ranking order while the
// total stays within the target.
std::vector<RecipeFile> candidate_recipes(const SensitivityReport& rep, const SizeTable& sizes,
                                          const UniformLadder& ladder,
                                          const SensitivityOptions& o) {
  const std::vector<std::string>& steps = ladder.steps;
  const size_t u = ladder.within;
  const uint64_t low_total = total(sizes.at(o.low_type));
  const uint64_t high_total = total(sizes.at(o.high_type));
  std::vector<RecipeFile> recipes;
  recipes.push_back({"uniform " + steps[u], fmt::format(".* {}\n", steps[u])});
  std::vector<std::string> bases = {o.low_type};
  if (u > 0 && steps[u - 1] != o.low_type && total(sizes.at(steps[u - 1])) >= low_total) {
    bases.push_back(steps[u - 1]);
  }
  std::vector<std::string> highs = {o.high_type};
  if (u + 1 < steps.size() && steps[u + 1] != o.high_type &&
      total(sizes.at(steps[u + 1])) <= high_total) {
    highs.push_back(steps[u + 1]);
  }
  std::set<std::string> seen;
  for (const auto& base : bases) {
    for (const auto& high : highs) {
      const auto& bb = sizes.at(base);
      const auto& hb = sizes.at(high);
      if (total(hb) <= total(bb)) continue;
      uint64_t bytes = total(bb);
      std::string rules;
      int promoted = 0;
      for (const auto& s : rep.ranking) {
        const uint64_t grow = group_bytes(s.group, hb) - group_bytes(s.group, bb);
        if (bytes + grow > rep.target_bytes) continue;
        bytes += grow;
        ++promoted;
        rules += fmt::format("{} {}  # {}, answer KL {:.4g} at {}\n", s.group.pattern, high,
                             s.group.name, s.kl_mean, o.low_type);
      }
      if (promoted == 0) continue;
      rules += fmt::format(".* {}\n", base);
      if (!seen.insert(rules).second) continue;
      recipes.push_back(
          {fmt::format("mixed {}+{} ({} groups at {})", base, high, promoted, high), rules});
    }
  }
  return recipes;
}

// Measures every recipe into rep.measured; returns the index of the one of lowest mean KL.
Result<size_t> measure_recipes(SensitivityReport& rep, const std::vector<RecipeFile>& recipes,
                               const RecipeMeasurer& measure) {
  size_t best = 0;
  for (size_t i = 0; i < recipes.size(); ++i) {
    const std::string file = file_stem_for(recipes[i].name) + ".txt";
    auto c = measure(recipes[i].name, file, recipes[i].text);
    if (!c) return std::unexpected(c.error());
    rep.measured.push_back(measurement(recipes[i].name, (measure.dir / file).string(), *c));
    // The uniform recipe is measured first and kept on a tie.
    if (rep.measured.back().kl_mean < rep.measured[best].kl_mean) best = i;
  }
  return best;
}

// 4. The chosen recipe's rules, with where they came from, at rep.recipe_path.
Result<void> write_chosen_recipe(SensitivityReport& rep, const SensitivityOptions& o,
                                 const std::string& rules) {
  rep.recipe_path = o.recipe_path.empty()
                        ? (std::filesystem::path(o.out_dir) / "recipe.txt").string()
                        : o.recipe_path;
  std::string text = fmt::format(
      "# Written by clinbench fidelity --sensitivity (docs/fidelity.md).\n"
      "# reference {}, dataset {} ({} items)\n"
      "# {}: {} bytes ({:.3f} bits per weight), target {} bytes ({:.3f})\n"
      "# measured mean answer KL {:.6g} nats; the uniform recipe of the same budget ({}) {:.6g}\n"
      "# load with: --strategy quantize:q4 --recipe FILE (types are explicit)\n",
      rep.reference.path, rep.dataset, rep.items, rep.chosen.name, rep.chosen.weight_bytes,
      rep.chosen.bits_per_weight, rep.target_bytes, rep.target_bpw, rep.chosen.kl_mean,
      rep.uniform.name, rep.uniform.kl_mean);
  text += rules;
  if (auto w = write_file_atomically(rep.recipe_path, text); !w) {
    return std::unexpected(w.error());
  }
  return {};
}

}  // namespace

std::vector<TensorGroup> tensor_groups(const ModelInfo& model) {
  // A tensor is quantizable when a recipe changes its type (2-D float weights, no norms).
  Recipe probe{"probe", "", {{".*", "q4_0", false}}};
  auto choices = apply_recipe(probe, Strategy::kQuantizeQ4, model);
  std::vector<TensorGroup> groups;
  if (!choices) return groups;
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < model.tensors.size(); ++i) {
    const TensorInfo& t = model.tensors[i];
    const TensorChoice& c = (*choices)[i];
    if (c.wanted_type != "q4_0" || !is_float_type(t.type)) continue;
    const std::string name = group_name(t);
    auto [it, fresh] = index.emplace(name, groups.size());
    if (fresh) groups.push_back({name, "", {}, 0});
    TensorGroup& g = groups[it->second];
    g.tensors.push_back(t.name);
    g.elements += static_cast<uint64_t>(t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3]);
  }
  for (auto& g : groups) {
    std::string alt;
    for (const auto& t : g.tensors) alt += (alt.empty() ? "" : "|") + regex_escape(t);
    g.pattern = g.tensors.size() == 1 ? alt : "(" + alt + ")";
  }
  return groups;
}

Result<SensitivityReport> run_sensitivity(const FidelityModel& reference,
                                          const std::vector<Item>& items,
                                          const std::string& dataset, const SensitivityOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  auto info = read_float_reference(reference);
  if (!info) return std::unexpected(info.error());
  auto sizes = low_high_sizes(*info, o);
  if (!sizes) return std::unexpected(sizes.error());
  SensitivityReport rep;
  rep.reference = reference;
  rep.dataset = dataset;
  rep.low_type = o.low_type;
  rep.high_type = o.high_type;
  if (auto r =
          set_target(rep, *info, o, total(sizes->at(o.low_type)), total(sizes->at(o.high_type)));
      !r) {
    return std::unexpected(r.error());
  }
  const std::vector<TensorGroup> groups = tensor_groups(*info);
  if (groups.empty()) {
    return make_error(ErrorCode::kUnsupported,
                      fmt::format("{}: no quantizable weight matrix", reference.path));
  }
  auto dir = recipes_dir(o.out_dir);
  if (!dir) return std::unexpected(dir.error());

  auto ref = measure_reference(reference, items, o.fidelity);
  if (!ref) return std::unexpected(ref.error());
  rep.reference_use = ref->use;
  rep.items = ref->items.size();
  rep.skipped = ref->skipped;
  const RecipeMeasurer measure{*ref, reference.path, *dir, o.fidelity};

  auto ranking = rank_groups(groups, *info, *sizes, o, measure);
  if (!ranking) return std::unexpected(ranking.error());
  rep.ranking = std::move(*ranking);
  const UniformLadder ladder = uniform_ladder(*sizes, *info, o, rep.target_bytes);
  const std::vector<RecipeFile> recipes = candidate_recipes(rep, *sizes, ladder, o);
  auto best = measure_recipes(rep, recipes, measure);
  if (!best) return std::unexpected(best.error());
  rep.uniform = rep.measured.front();
  rep.chosen = rep.measured[*best];
  if (auto w = write_chosen_recipe(rep, o, recipes[*best].text); !w) {
    return std::unexpected(w.error());
  }
  rep.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace clinbench
