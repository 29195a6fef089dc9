// Quantization fidelity measured on the benchmark's own items (docs/fidelity.md): how far a
// candidate (a quantized load of the reference, or another file of the same model) moves the
// reference's answer distribution and reasoning, item by item; which tensor groups are the most
// sensitive to quantization, and a recipe that spends a size budget on them; and whether two
// files of one model tokenize alike.
//
// Models load in this process, one at a time, through the loading chain's own attempt code
// (the same recipes and quantize-while-loading path as `clinbench load`). The reference's
// per-item results are kept in memory and every candidate is compared against them.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "clinbench/adapter.h"
#include "clinbench/error.h"
#include "clinbench/evaluate.h"
#include "clinbench/item.h"
#include "clinbench/model_info.h"
#include "clinbench/stats.h"
#include "clinbench/strategy.h"

namespace clinbench {

// The document `--reference ... --out DIR` writes as DIR/kFidelityFile; `clinbench report` draws
// it when DIR is a run directory (docs/report.md).
inline constexpr const char* kFidelityFormat = "clinbench.fidelity/1";
inline constexpr const char* kFidelityFile = "fidelity.json";

// One model to measure: a GGUF file loaded with a strategy (and, for quantize:*, a recipe), with
// the LoRA adapters applied on it (docs/adapters.md).
struct FidelityModel {
  std::string label;  // how tables and fidelity.json name it
  std::string path;
  Strategy strategy = Strategy::kNative;
  std::string recipe;  // quantize:* only: built-in name or recipe file
  // Applied on the loaded base in their own precision, whatever the strategy does to the base
  // (quantize:* with adapters is the QLoRA arrangement).
  std::vector<AdapterSpec> adapters;
};

// A --candidate value: BASE, then any number of "+lora=FILE[:SCALE]" (adapters applied on it, in
// order). BASE is "quantize:q8" or "quantize:q4", optionally followed by "@RECIPE" (a built-in
// recipe name or a recipe file; default "mixed"), applied to the reference file; nothing (the
// value starts with "lora=") for the reference file as stored; any other text is the path of a
// GGUF file loaded as stored. The reference's own adapters (--reference-lora) are not inherited:
// a candidate applies exactly the adapters it names. Errors: an empty value, a recipe after a
// file path, an unknown recipe, an adapter with no file or a scale that is no finite number.
Result<FidelityModel> parse_candidate(const std::string& text, const std::string& reference_path);

struct FidelityOptions {
  PromptConfig prompts;
  int trace_tokens = 64;  // the reference's greedy reasoning tokens, teacher-forced
  uint32_t n_ctx = 2048;  // context every model is created with
  int n_threads = 0;      // 0: all cores
  // The reference's trace distributions are kept in memory (items x trace tokens x vocabulary
  // x 4 bytes); above this the measurement stops with an error that says how much it needs.
  uint64_t max_reference_bytes = 2ull << 30;
};

struct ItemFidelity {
  std::string id;
  std::optional<std::string> answer;  // the item's label
  std::vector<std::string> letters;
  std::vector<double> reference_probs;  // softmax over the letters' next-token logits
  std::vector<double> candidate_probs;
  std::string reference_choice;  // the most probable letter
  std::string candidate_choice;
  std::optional<bool> reference_correct;  // nullopt for unlabeled items
  std::optional<bool> candidate_correct;
  double answer_kl = 0;             // KL(reference || candidate) over the letters, nats
  bool top1_agree = true;           // same most probable letter; false: the answer flips
  int trace_tokens = 0;             // positions of the teacher-forced trace
  double trace_kl_mean = 0;         // mean per-token KL over the vocabulary, nats
  double trace_top1_rate = 1;       // positions where both put the same token first
  bool prompt_tokens_match = true;  // the candidate's own template gives the same tokens
};

// Memory and speed of one model during the measurement.
struct ModelUse {
  // The adapters loaded on it as check_adapter read them (path, sha256, scale, rank, alpha,
  // targets, bytes); fidelity.json lists them under the model.
  std::vector<AdapterInfo> adapters;
  uint64_t adapter_bytes = 0;              // their tensor data, in their own precision
  uint64_t weight_bytes = 0;               // the base's tensor data at the types loaded
  double bits_per_weight = 0;              // weight_bytes * 8 / parameters
  std::vector<TypeCount> tensor_types;     // after quantization, largest first
  std::optional<uint64_t> peak_rss_bytes;  // this process, from the load to the end of its pass
  double load_ms = 0;                      // model and context
  double eval_ms = 0;                      // teacher-forced passes over the items
  int64_t eval_tokens = 0;
  double eval_tokens_per_s = 0;  // prompt-processing rate of those passes
  int64_t decode_tokens = 0;     // greedy tokens generated one at a time
  double decode_tokens_per_s = 0;
};

struct CandidateResult {
  FidelityModel model;
  ModelUse use;
  std::vector<ItemFidelity> items;
  double kl_mean = 0;  // answer-letter KL over the items
  double kl_median = 0;
  double kl_p99 = 0;  // nearest-rank 99th percentile
  double kl_max = 0;
  double trace_kl_mean = 0;            // mean over items of their trace means
  double trace_top1_rate = 0;          // over every trace position of every item
  double top1_agreement = 0;           // items whose top letter agrees
  double flip_rate = 0;                // 1 - top1_agreement
  std::vector<std::string> flipped;    // ids of the items whose answer flips
  size_t prompt_token_mismatches = 0;  // items the candidate's template tokenizes otherwise
  AccuracySummary reference_accuracy;
  AccuracySummary candidate_accuracy;
  McNemarResult mcnemar;  // a = reference, b = candidate
};

struct SkippedItem {
  std::string id;
  std::string reason;
};

struct FidelityReport {
  FidelityModel reference;
  ModelUse reference_use;
  std::string dataset;
  size_t items = 0;                  // items measured
  std::vector<SkippedItem> skipped;  // open_ended, without options, or too long
  FidelityOptions options;
  std::vector<CandidateResult> candidates;
};

// Measures every candidate against the reference on the items. Every model's adapters are checked
// against its base (check_adapter) before anything is loaded. Errors: an adapter that does not
// fit its base (naming the model and the adapter file), a model that does not load (with the
// loader's reason), a candidate whose vocabulary differs from the reference's, no item left to
// measure, the reference's distributions above options.max_reference_bytes.
Result<FidelityReport> run_fidelity(const FidelityModel& reference,
                                    const std::vector<FidelityModel>& candidates,
                                    const std::vector<Item>& items, const std::string& dataset,
                                    const FidelityOptions& options);

// ---------------------------------------------------------------------------------------------
// Layer-aware precision: sensitivity of tensor groups and a recipe from it.
// ---------------------------------------------------------------------------------------------

// Weight matrices quantized together: one kind in one block (attn_q, attn_k, attn_v,
// attn_output, ffn with every ffn_* matrix of the block, ...), or the token embeddings or the
// output head.
struct TensorGroup {
  std::string name;     // "blk.3.attn_v", "blk.3.ffn", "token_embd", "output"
  std::string pattern;  // recipe pattern matching exactly its tensors
  std::vector<std::string> tensors;
  uint64_t elements = 0;
};

// The groups of a float model's quantizable tensors (2-D weights, norms excluded), in file order.
std::vector<TensorGroup> tensor_groups(const ModelInfo& model);

struct SensitivityOptions {
  FidelityOptions fidelity;
  std::string low_type = "q4_K";   // the type each group is quantized to alone
  std::string high_type = "q8_0";  // the type the recipe keeps sensitive groups at
  // The recipe's budget, one of the two; neither: halfway between uniform low and uniform high.
  std::optional<double> target_bpw;  // bits per weight over all tensors
  std::optional<uint64_t> target_bytes;
  std::string out_dir;      // measured recipe files go under out_dir/recipes/
  std::string recipe_path;  // the chosen recipe; default out_dir/recipe.txt
};

struct GroupSensitivity {
  TensorGroup group;
  uint64_t bytes_reference = 0;  // the group at the reference's types
  uint64_t bytes_low = 0;        // the group at low_type (after block fallbacks)
  uint64_t bytes_high = 0;
  double kl_mean = 0;  // answer-letter KL with only this group at low_type
  double kl_p99 = 0;
  double trace_kl_mean = 0;
  size_t flips = 0;
};

// One recipe measured on the items.
struct RecipeMeasurement {
  std::string name;  // "uniform q5_0", "mixed q4_0+q8_0 (7 groups)", ...
  std::string path;  // the recipe file it was loaded from
  uint64_t weight_bytes = 0;
  double bits_per_weight = 0;
  double kl_mean = 0;
  double kl_p99 = 0;
  double trace_kl_mean = 0;
  size_t flips = 0;
};

struct SensitivityReport {
  FidelityModel reference;
  ModelUse reference_use;
  std::string dataset;
  size_t items = 0;
  std::vector<SkippedItem> skipped;
  std::string low_type;
  std::string high_type;
  std::vector<GroupSensitivity> ranking;  // most sensitive first; ties by file order
  uint64_t target_bytes = 0;
  double target_bpw = 0;
  std::vector<RecipeMeasurement> measured;  // every recipe tried, in the order tried
  RecipeMeasurement chosen;                 // lowest mean KL among those within the target
  RecipeMeasurement uniform;                // the largest uniform recipe within the target
  std::string recipe_path;                  // where the chosen recipe was written
  double ms = 0;
};

// Ranks the groups (each quantized alone to low_type, everything else as stored), then measures
// mixed recipes within the target (groups promoted to the higher type in ranking order) and the
// uniform recipe of the same budget, and writes the best as a recipe file. Errors: the
// reference is not stored as f32/f16/bf16, an unknown type, a target no recipe meets, a model
// that fails to load, an unwritable output.
Result<SensitivityReport> run_sensitivity(const FidelityModel& reference,
                                          const std::vector<Item>& items,
                                          const std::string& dataset,
                                          const SensitivityOptions& options);

// ---------------------------------------------------------------------------------------------
// Tokenizer check across two files of the same model.
// ---------------------------------------------------------------------------------------------

struct TokenizerDifference {
  std::string what;   // "vocab_size", "tokenizer_model", "token", "special", "add_bos",
                      // "add_eos", "chat_template", "item"
  std::string where;  // token id, special token name or item id; "" for the file as a whole
  std::string a;      // the first file's value
  std::string b;      // the second file's
};

struct TokenizerCheck {
  std::string path_a;
  std::string path_b;
  int n_vocab_a = 0;
  int n_vocab_b = 0;
  size_t items_checked = 0;
  std::vector<TokenizerDifference> differences;  // every one, in the order above
  bool same() const { return differences.empty(); }
};

// Compares vocabulary (size, tokenizer model, every token's text and attributes), special
// tokens, BOS/EOS insertion, chat template, and the prompt tokens of every item under both
// protocols (each file's own template). Reads vocabularies only, no weights.
Result<TokenizerCheck> compare_tokenizers(const std::string& path_a, const std::string& path_b,
                                          const std::vector<Item>& items,
                                          const PromptConfig& prompts);

// ---------------------------------------------------------------------------------------------
// Output (docs/fidelity.md).
// ---------------------------------------------------------------------------------------------

nlohmann::json to_json(const FidelityReport& report);
nlohmann::json to_json(const SensitivityReport& report);
nlohmann::json to_json(const TokenizerCheck& check);
std::string format_fidelity(const FidelityReport& report);
std::string format_sensitivity(const SensitivityReport& report);
std::string format_tokenizer_check(const TokenizerCheck& check);

// Writes `doc` as DIR/NAME (creating DIR), atomically.
Result<void> write_fidelity_json(const std::string& dir, const std::string& name,
                                 const nlohmann::json& doc);

}  // namespace clinbench
