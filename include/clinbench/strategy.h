// Loading strategies (DESIGN.md, "Loading strategies") and quantization recipes.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clinbench/error.h"
#include "clinbench/model_info.h"

namespace clinbench {

enum class Strategy {
  kNative,      // "native": the GGUF as stored, by mmap; all layers on the accelerator if any
  kQuantizeQ8,  // "quantize:q8": float weights quantized to 8-bit while loading, in memory
  kQuantizeQ4,  // "quantize:q4": float weights quantized to 4-bit while loading, in memory
  kOffload,     // "offload": stored precision, as many layers on the accelerator as fit
  kCpu,         // "cpu": everything on the host
};

const char* to_string(Strategy s);
std::optional<Strategy> strategy_from_string(std::string_view text);
// The order `auto` walks: native, quantize:q8, quantize:q4, offload, cpu. 8-bit comes before
// 4-bit because it keeps more fidelity; 4-bit is tried when 8-bit does not fit.
const std::vector<Strategy>& auto_chain();
bool is_quantize(Strategy s);

// A recipe decides each tensor's type when a quantize:* strategy loads a float model.
// Rules are tried in order; the first whose pattern (ECMAScript regex, whole name) matches and
// whose layer condition holds decides. Types are ggml names ("q4_K", "q8_0", "f16", ...) or
// symbolic: "low" (the strategy's type: q4_K / q8_0), "high" (q6_K / f16), "embd" (q6_K / q8_0)
// and "keep" (as stored). One-dimensional tensors (norms, biases) always keep their type.
struct RecipeRule {
  std::string pattern;
  std::string type;
  bool edge_layers_only = false;  // "layers=edges": first and last eighth, and every third
};

struct Recipe {
  std::string name;
  std::string description;
  std::vector<RecipeRule> rules;
};

const std::vector<Recipe>& builtin_recipes();
// The recipes as `load --list-recipes` prints them: a line with each name and description, then
// a line per rule (pattern, type, " layers=edges").
std::string format_recipes(const std::vector<Recipe>& recipes);
// A built-in name ("mixed", "uniform") or the path of a recipe file (docs/recipes.md): one rule
// per line, "PATTERN TYPE [layers=edges]", '#' comments. Errors name the file and line.
Result<Recipe> resolve_recipe(const std::string& name_or_path);

// The type chosen for one tensor, and why it differs from what the recipe asked for.
struct TensorChoice {
  std::string name;
  std::string source_type;
  std::string wanted_type;
  std::string type;             // the type used
  std::string fallback_reason;  // "" when type == wanted_type
  uint64_t bytes = 0;           // bytes at the chosen type
};

// Resolves the recipe against a model for a quantize strategy. Errors when a rule names an
// unknown type. Tensors whose rows do not fit the wanted type's block size fall back to a
// valid type (q4_K -> q4_0 -> f16, q6_K -> q8_0 -> f16, q8_0 -> f16), recorded.
Result<std::vector<TensorChoice>> apply_recipe(const Recipe& recipe, Strategy strategy,
                                               const ModelInfo& model);

}  // namespace clinbench
