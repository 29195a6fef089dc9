#include "clinbench/strategy.h"

#include <fmt/format.h>
#include <ggml.h>

#include <array>
#include <fstream>
#include <regex>
#include <sstream>

#include "model/ggml_types.h"
#include "model/strategy_table.h"

namespace clinbench {

namespace {

// llama.cpp's use_more_bits: the first and last eighth of the blocks, and every third between.
bool edge_layer(int layer, int n_layer) {
  if (n_layer <= 0 || layer < 0) return false;
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

std::string symbolic_type(const std::string& sym, Strategy s, const std::string& source) {
  const QuantizeTypes& types = strategy_def(s).quantize;
  if (sym == "low") return types.low;
  if (sym == "high") return types.high;
  if (sym == "embd") return types.embd;
  if (sym == "keep") return source;
  return sym;
}

// Next type to try when rows of length ne0 do not fit a type's block size.
std::string fallback_of(const std::string& type) {
  if (type == "q4_K" || type == "q5_K" || type == "q3_K" || type == "q2_K") return "q4_0";
  if (type == "q6_K") return "q8_0";
  if (type == "q4_0" || type == "q4_1" || type == "q5_0" || type == "q5_1" || type == "q8_0") {
    return "f16";
  }
  return "f32";
}

bool quantizable(const TensorInfo& t) {
  if (t.ne[1] <= 1) return false;  // norms, biases, scalars
  if (t.name.size() < 7 || t.name.compare(t.name.size() - 7, 7, ".weight") != 0) return false;
  if (t.name.find("norm") != std::string::npos) return false;
  return is_float_type(t.type);
}

}  // namespace

std::optional<ggml_type> type_from_name(const std::string& name) {
  for (int t = 0; t < GGML_TYPE_COUNT; ++t) {
    const char* n = ggml_type_name(static_cast<ggml_type>(t));
    if (n != nullptr && name == n && ggml_blck_size(static_cast<ggml_type>(t)) > 0) {
      return static_cast<ggml_type>(t);
    }
  }
  return std::nullopt;
}

const char* to_string(Strategy s) { return strategy_def(s).name; }

std::optional<Strategy> strategy_from_string(std::string_view text) {
  for (const auto& d : strategy_table()) {
    if (text == d.name) return d.strategy;
  }
  return std::nullopt;
}

const std::vector<Strategy>& auto_chain() {
  static const std::vector<Strategy> chain = [] {
    std::vector<Strategy> v;
    for (const auto& d : strategy_table()) v.push_back(d.strategy);
    return v;
  }();
  return chain;
}

bool is_quantize(Strategy s) { return strategy_def(s).load == WeightLoad::kQuantized; }

const std::vector<Recipe>& builtin_recipes() {
  static const std::vector<Recipe> recipes = {
      {"mixed",
       "layer-aware mixed precision (default): token embeddings and output head at a higher "
       "type, attn_v and ffn_down at a higher type in the first and last eighth of the blocks "
       "and every third between, the rest at the strategy's type",
       {
           {R"(token_embd\.weight)", "embd", false},
           {R"(output\.weight)", "high", false},
           {R"(blk\.\d+\.attn_v\.weight)", "high", true},
           {R"(blk\.\d+\.ffn_down\.weight)", "high", true},
           {R"(.*)", "low", false},
       }},
      {"uniform",
       "every weight matrix at the strategy's type (q4_K or q8_0); norms and biases as stored",
       {{R"(.*)", "low", false}}},
  };
  return recipes;
}

std::string format_recipes(const std::vector<Recipe>& recipes) {
  std::string out;
  for (const auto& r : recipes) {
    out += fmt::format("{:<8} {}\n", r.name, r.description);
    for (const auto& rule : r.rules) {
      out += fmt::format("         {:<32} {}{}\n", rule.pattern, rule.type,
                         rule.edge_layers_only ? " layers=edges" : "");
    }
  }
  return out;
}

Result<Recipe> resolve_recipe(const std::string& name_or_path) {
  for (const auto& r : builtin_recipes()) {
    if (r.name == name_or_path) return r;
  }
  std::ifstream in(name_or_path);
  if (!in) {
    std::string names;
    for (const auto& r : builtin_recipes()) names += (names.empty() ? "" : ", ") + r.name;
    return make_error(ErrorCode::kNotFound,
                      fmt::format("unknown recipe '{}': not a built-in recipe ({}) and not a "
                                  "readable recipe file",
                                  name_or_path, names));
  }
  Recipe recipe;
  recipe.name = name_or_path;
  recipe.description = "recipe file " + name_or_path;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::istringstream ls(line);
    RecipeRule rule;
    if (!(ls >> rule.pattern)) continue;
    if (!(ls >> rule.type)) {
      return make_error(
          ErrorCode::kInvalidArgument,
          fmt::format("{}:{}: expected 'PATTERN TYPE [layers=edges]'", name_or_path, lineno));
    }
    std::string extra;
    while (ls >> extra) {
      if (extra == "layers=edges") {
        rule.edge_layers_only = true;
      } else if (extra != "layers=all") {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("{}:{}: unknown option '{}' (expected layers=edges or "
                                      "layers=all)",
                                      name_or_path, lineno, extra));
      }
    }
    try {
      std::regex check(rule.pattern);
    } catch (const std::regex_error& e) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("{}:{}: invalid pattern '{}': {}", name_or_path, lineno,
                                    rule.pattern, e.what()));
    }
    const bool symbolic =
        rule.type == "low" || rule.type == "high" || rule.type == "embd" || rule.type == "keep";
    if (!symbolic && !type_from_name(rule.type)) {
      return make_error(ErrorCode::kInvalidArgument, fmt::format("{}:{}: unknown tensor type '{}'",
                                                                 name_or_path, lineno, rule.type));
    }
    recipe.rules.push_back(std::move(rule));
  }
  if (recipe.rules.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("{}: recipe file has no rules", name_or_path));
  }
  return recipe;
}

Result<std::vector<TensorChoice>> apply_recipe(const Recipe& recipe, Strategy strategy,
                                               const ModelInfo& model) {
  std::vector<std::regex> patterns;
  patterns.reserve(recipe.rules.size());
  for (const auto& r : recipe.rules) patterns.emplace_back(r.pattern);

  std::vector<TensorChoice> out;
  out.reserve(model.tensors.size());
  for (const auto& t : model.tensors) {
    TensorChoice c;
    c.name = t.name;
    c.source_type = t.type;
    c.wanted_type = t.type;
    if (is_quantize(strategy) && quantizable(t)) {
      for (size_t i = 0; i < recipe.rules.size(); ++i) {
        const auto& rule = recipe.rules[i];
        if (!std::regex_match(t.name, patterns[i])) continue;
        if (rule.edge_layers_only && !edge_layer(t.layer, static_cast<int>(model.n_layer))) {
          continue;
        }
        c.wanted_type = symbolic_type(rule.type, strategy, t.type);
        break;
      }
    }
    if (!type_from_name(c.wanted_type)) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("recipe {}: tensor '{}': unknown type '{}'", recipe.name,
                                    t.name, c.wanted_type));
    }
    c.type = c.wanted_type;
    while (true) {
      const ggml_type gt = *type_from_name(c.type);
      const int64_t blck = ggml_blck_size(gt);
      if (t.ne[0] % blck == 0) break;
      const std::string next = fallback_of(c.type);
      if (c.fallback_reason.empty()) {
        c.fallback_reason = fmt::format("row length {} is not a multiple of {}'s block size {}",
                                        t.ne[0], c.type, blck);
      }
      c.type = next;
    }
    const ggml_type gt = *type_from_name(c.type);
    c.bytes = ggml_row_size(gt, t.ne[0]) * static_cast<uint64_t>(t.ne[1] * t.ne[2] * t.ne[3]);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace clinbench
