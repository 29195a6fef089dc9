// fidelity: a thin handler over include/clinbench/fidelity.h. Three forms, one per question:
//   --reference REF --candidate C...   how far each candidate (a quantized load, another file, an
//                                      adapter) moves the reference (fidelity.json)
//   --sensitivity REF                  which tensor groups matter, and a recipe (sensitivity.json)
//   --tokenizer A B                    whether two files tokenize alike (tokenizer_check.json)
#include <fmt/format.h>

#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "clinbench/adapter.h"
#include "clinbench/dataset.h"
#include "clinbench/fidelity.h"
#include "clinbench/select.h"
#include "clinbench/units.h"

namespace clinbench::cli {

namespace {

struct FidelityFlags {
  std::string reference;
  std::vector<std::string> reference_lora;  // FILE[:SCALE] each
  std::vector<std::string> candidates;
  std::string sensitivity;
  std::vector<std::string> tokenizer;
  std::string dataset;
  std::string rpc;  // --rpc
  std::string format = "auto";
  std::optional<size_t> limit;
  uint64_t seed = 0;
  std::string out;
  bool json = false;
  FidelityOptions fo;
  SensitivityOptions so;
  std::optional<double> target_bpw;
  std::string target_size;
  std::string recipe_out;
};

Result<std::vector<Item>> read_items(const FidelityFlags& f) {
  auto format = dataset_format_from_string(f.format);
  if (!format) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--format: unknown format '{}' (expected auto, curebench, "
                                  "medqa, medmcqa, mmlu or pubmedqa)",
                                  f.format));
  }
  ReadOptions ro;
  ro.format = *format;
  auto ds = read_dataset(f.dataset, ro);
  if (!ds) return std::unexpected(ds.error().with_context("--dataset"));
  for (const auto& issue : ds->issues) {
    std::fprintf(stderr, "clinbench: skipped row: %s\n", issue.to_string().c_str());
  }
  return select_subset(ds->items, f.limit, f.seed);
}

// Prints the text (or, with --json, the document) and writes the document under --out.
int emit(const FidelityFlags& f, const std::string& file, const nlohmann::json& doc,
         const std::string& text) {
  if (!f.out.empty()) {
    if (auto w = write_fidelity_json(f.out, file, doc); !w) return report_error(w.error());
  }
  if (f.json) {
    std::cout << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << text;
    if (!f.out.empty()) std::cout << fmt::format("wrote {}/{}\n", f.out, file);
  }
  return kExitOk;
}

int run(FidelityFlags& f) {
  const int forms = !f.reference.empty() + !f.sensitivity.empty() + !f.tokenizer.empty();
  if (forms != 1) {
    return report_error({ErrorCode::kInvalidArgument,
                         "give exactly one of --reference (with --candidate), --sensitivity or "
                         "--tokenizer"});
  }
  if (!f.reference_lora.empty() && f.reference.empty()) {
    return report_error({ErrorCode::kInvalidArgument, "--reference-lora needs --reference"});
  }
  if (f.fo.trace_tokens < 0) {
    return report_error({ErrorCode::kInvalidArgument, "--trace-tokens: must be 0 or more"});
  }
  auto items = read_items(f);
  if (!items) return report_error(items.error());

  if (!f.tokenizer.empty()) {
    auto check = compare_tokenizers(f.tokenizer[0], f.tokenizer[1], *items, f.fo.prompts);
    if (!check) return report_error(check.error());
    const int rc = emit(f, "tokenizer_check.json", to_json(*check), format_tokenizer_check(*check));
    return rc != kExitOk ? rc : (check->same() ? kExitOk : kExitFailed);
  }

  if (!f.reference.empty()) {
    if (f.candidates.empty()) {
      return report_error({ErrorCode::kInvalidArgument, "--reference needs --candidate"});
    }
    FidelityModel ref{"reference", f.reference, Strategy::kNative, ""};
    for (const auto& l : f.reference_lora) {
      auto spec = parse_adapter_spec(l, "--reference-lora");
      if (!spec) return report_error(spec.error());
      ref.adapters.push_back(std::move(*spec));
    }
    std::vector<FidelityModel> cands;
    for (const auto& c : f.candidates) {
      auto m = parse_candidate(c, f.reference);
      if (!m) return report_error(m.error());
      cands.push_back(std::move(*m));
    }
    auto rep = run_fidelity(ref, cands, *items, f.dataset, f.fo);
    if (!rep) return report_error(rep.error());
    return emit(f, kFidelityFile, to_json(*rep), format_fidelity(*rep));
  }

  if (f.out.empty()) {
    return report_error({ErrorCode::kInvalidArgument,
                         "--sensitivity needs --out DIR (the measured recipes and the chosen one "
                         "are written there)"});
  }
  if (f.target_bpw && !f.target_size.empty()) {
    return report_error(
        {ErrorCode::kInvalidArgument, "give one of --target-bpw and --target-size, not both"});
  }
  if (f.target_bpw && *f.target_bpw <= 0) {
    return report_error({ErrorCode::kInvalidArgument, "--target-bpw: must be positive"});
  }
  if (!f.target_size.empty()) {
    auto s = parse_size(f.target_size);
    if (!s) return report_error(s.error().with_context("--target-size"));
    f.so.target_bytes = *s;
  }
  f.so.target_bpw = f.target_bpw;
  f.so.fidelity = f.fo;
  f.so.out_dir = f.out;
  f.so.recipe_path = f.recipe_out;
  FidelityModel ref{"reference", f.sensitivity, Strategy::kNative, ""};
  auto rep = run_sensitivity(ref, *items, f.dataset, f.so);
  if (!rep) return report_error(rep.error());
  return emit(f, "sensitivity.json", to_json(*rep), format_sensitivity(*rep));
}

Command fidelity_command() {
  return {"fidelity",
          "Measure what quantization or a LoRA adapter changes on the dataset's own items "
          "(answer-letter KL, flips, reasoning KL), rank tensor groups by sensitivity and write a "
          "recipe, or compare two files' tokenizers",
          [](CLI::App* sub) -> std::function<int()> {
            auto f = std::make_shared<FidelityFlags>();
            sub->add_option("--reference", f->reference,
                            "reference model file (full or high precision)");
            sub->add_option("--reference-lora", f->reference_lora,
                            "FILE[:SCALE]: a LoRA adapter applied on the reference (repeatable)");
            sub->add_option("--candidate", f->candidates,
                            "candidate: a model file, or quantize:q8 / quantize:q4 applied to the "
                            "reference, optionally @RECIPE (built-in name or recipe file), then "
                            "+lora=FILE[:SCALE] per adapter applied on it; lora=FILE[:SCALE] "
                            "alone: the reference file with the adapter; repeatable");
            sub->add_option("--sensitivity", f->sensitivity,
                            "rank the tensor groups of this float model and write a recipe");
            sub->add_option("--tokenizer", f->tokenizer,
                            "compare the tokenizers of two files of one model (exit 1 when they "
                            "differ)")
                ->expected(2);
            sub->add_option("--dataset", f->dataset, "dataset file or directory")->required();
            sub->add_option("--format", f->format,
                            "auto | curebench | medqa | medmcqa | mmlu | pubmedqa")
                ->capture_default_str();
            sub->add_option("--limit", f->limit, "measure a subset of N items");
            sub->add_option("--seed", f->seed, "which subset")->capture_default_str();
            sub->add_option("--out", f->out,
                            "directory for fidelity.json / sensitivity.json / "
                            "tokenizer_check.json (and the recipes)");
            sub->add_flag("--json", f->json, "print the JSON document instead of the table");
            sub->add_option("--trace-tokens", f->fo.trace_tokens,
                            "reference reasoning tokens, teacher-forced into every candidate")
                ->capture_default_str();
            sub->add_option("--ctx", f->fo.n_ctx, "context length of every model")
                ->capture_default_str();
            sub->add_option("--threads", f->fo.n_threads, "threads (0: all cores)")
                ->capture_default_str();
            sub->add_option("--low", f->so.low_type,
                            "--sensitivity: the type each group is quantized to")
                ->capture_default_str();
            sub->add_option("--high", f->so.high_type,
                            "--sensitivity: the type the recipe keeps sensitive groups at")
                ->capture_default_str();
            sub->add_option("--target-bpw", f->target_bpw,
                            "--sensitivity: the recipe's budget in bits per weight (default: "
                            "halfway between uniform --low and uniform --high)");
            sub->add_option("--target-size", f->target_size,
                            "--sensitivity: the recipe's budget as a size (e.g. 4.5GiB)");
            sub->add_option("--recipe-out", f->recipe_out,
                            "--sensitivity: where to write the recipe (default OUT/recipe.txt)");
            add_rpc_option(sub, &f->rpc);
            return [f]() -> int {
              if (auto rc = apply_rpc_option(f->rpc)) return *rc;
              return run(*f);
            };
          }};
}

}  // namespace

std::vector<Command> fidelity_commands() { return {fidelity_command()}; }

}  // namespace clinbench::cli
