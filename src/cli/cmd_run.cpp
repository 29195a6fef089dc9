// run: the evaluation, from a config file or the short form.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "clinbench/config.h"
#include "clinbench/run.h"

namespace clinbench::cli {

namespace {

// A progress bar on a terminal, plain lines (every 10 items or 10 s) otherwise.
class ProgressPrinter {
 public:
  ProgressPrinter() : tty_(::isatty(STDERR_FILENO) == 1) {}

  void operator()(const RunProgress& p) {
    if (!p.message.empty()) {
      if (bar_shown_) std::fputs("\n", stderr);
      bar_shown_ = false;
      std::fprintf(stderr, "%s\n", p.message.c_str());
      return;
    }
    const double acc = p.scored > 0 ? 100.0 * p.correct / p.scored : 0.0;
    // Generated tokens over the model's wall time so far: with several items in flight their
    // decode times overlap, and a sum of them would understate the rate by as many.
    const double tps = p.elapsed_ms > 0 ? p.output_tokens / (p.elapsed_ms / 1000.0) : 0.0;
    const double per_item = p.done > 0 ? p.elapsed_ms / p.done : 0.0;
    const double eta_s = per_item * (p.total - p.done) / 1000.0;
    const std::string acc_s = p.scored > 0 ? fmt::format("{:5.1f}%", acc) : std::string("  n/a ");
    if (tty_) {
      const int width = 30;
      const int filled = p.total > 0 ? static_cast<int>(width * p.done / p.total) : 0;
      std::fprintf(stderr, "\r%s [%s%s] %lld/%lld  acc %s  %6.1f tok/s  ETA %4.0fs ",
                   p.model.c_str(), std::string(static_cast<size_t>(filled), '#').c_str(),
                   std::string(static_cast<size_t>(width - filled), '.').c_str(),
                   static_cast<long long>(p.done), static_cast<long long>(p.total), acc_s.c_str(),
                   tps, eta_s);
      bar_shown_ = true;
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (p.done % 10 == 0 || p.done == p.total || now - last_ > std::chrono::seconds(10)) {
      last_ = now;
      std::fprintf(stderr, "%s: %lld/%lld items, accuracy %s, %.1f tok/s, ETA %.0fs\n",
                   p.model.c_str(), static_cast<long long>(p.done), static_cast<long long>(p.total),
                   acc_s.c_str(), tps, eta_s);
    }
  }
  ~ProgressPrinter() {
    if (bar_shown_) std::fputs("\n", stderr);
  }

 private:
  bool tty_;
  bool bar_shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

Command run_command() {
  return {"run", "Evaluate models on datasets into a resumable run directory",
          [](CLI::App* sub) -> std::function<int()> {
            struct Opts {
              RunFlags flags;
              std::string isolation, rpc;
            };
            auto o = std::make_shared<Opts>();
            RunFlags& f = o->flags;
            sub->add_option("--config", f.config, "TOML run config (docs/config.md)");
            sub->add_option("--model", f.model, "short form: one GGUF model");
            sub->add_option("--lora", f.lora,
                            "short form: a LoRA adapter FILE[:SCALE] on --model (repeatable; "
                            "docs/adapters.md)")
                ->allow_extra_args(false);  // one FILE[:SCALE] per --lora
            sub->add_option("--base-url", f.base_url,
                            "short form: a model served over the OpenAI API at this URL "
                            "(http://host:port/v1) instead of --model");
            sub->add_option("--api-model", f.api_model,
                            "short form: the served model's name (default: the first the "
                            "server lists)");
            sub->add_option("--ca-cert", f.ca_cert,
                            "PEM file of the CAs to trust for models served over https "
                            "(default: the system's)");
            sub->add_option("--in-flight", f.in_flight,
                            "requests in flight for models served over HTTP (default 4)")
                ->check(CLI::Range(1, 1024));
            sub->add_option("--dataset", f.dataset, "short form: one dataset file or directory");
            sub->add_option("--limit", f.limit, "short form: evaluate a subset of N items");
            sub->add_option("--seed", f.seed, "short form: which subset (and sampling seed)");
            sub->add_option("--out", f.out, "run directory (default runs/<model>-<dataset>)");
            sub->add_option("--scoring", f.scoring, "generate | loglik");
            sub->add_option("--strategy", f.strategy, "loading strategy (default auto)");
            sub->add_option("--max-tokens", f.max_tokens,
                            "token budget per turn (a thinking model's answer)");
            sub->add_option("--thinking", f.thinking,
                            "auto (the template's default) | on | off: whether reasoning models "
                            "think (every model)");
            sub->add_option("--reasoning-budget", f.reasoning_budget,
                            "tokens a thinking model may think for beyond --max-tokens (default "
                            "4096), or unlimited");
            sub->add_option("--ctx", f.ctx, "context length");
            sub->add_option("--threads", f.threads,
                            "CPU threads of models loaded here (default 0: all cores)")
                ->check(CLI::Range(0, 1024));
            sub->add_flag("--constrained-answer", f.constrained_answer,
                          "grammar-constrained final 'Answer: X' after free reasoning");
            sub->add_flag("--strict", f.strict, "a bad dataset row fails the run");
            sub->add_option("--shard", f.shard, "evaluate shard I/N of the items");
            sub->add_option("--parallel", f.parallel,
                            "conversations in flight at once, continuously batched: auto (the "
                            "default: as many as the memory plan fits) or 1-256");
            sub->add_option("--kv", f.kv,
                            "KV layout of the sequences: auto (the default: both measured on the "
                            "loaded model, the faster kept), split (cells of its own per "
                            "sequence) or unified (one pool)");
            sub->add_option("--isolation", o->isolation, "process (default) | none");
            add_rpc_option(sub, &o->rpc);
            return [o]() -> int {
              if (auto rc = apply_rpc_option(o->rpc)) return *rc;
              auto cfg = run_config_from_flags(o->flags);
              if (!cfg) return report_error(cfg.error());
              RunOptions ro;
              ro.config_path = o->flags.config;
              if (o->isolation == "none") {
                ro.isolation = Isolation::kNone;
              } else if (!o->isolation.empty() && o->isolation != "process") {
                std::fprintf(stderr, "clinbench: --isolation: unknown value '%s'\n",
                             o->isolation.c_str());
                return kExitUsage;
              }
              ProgressPrinter printer;
              ro.progress = [&printer](const RunProgress& p) { printer(p); };
              auto r = run_evaluation(*cfg, ro);
              if (!r) return report_error(r.error());
              std::cout << r->summary;
              std::cout << fmt::format(
                  "run directory {}: {} item(s) evaluated, {} resumed, {} bad dataset row(s) "
                  "skipped; {} model(s) loaded, {} failed\n",
                  cfg->out, r->items_evaluated, r->items_resumed, r->dataset_rows_skipped,
                  r->models_loaded, r->models_failed);
              return r->models_failed > 0 ? kExitFailed : kExitOk;
            };
          }};
}

}  // namespace

std::vector<Command> run_commands() { return {run_command()}; }

}  // namespace clinbench::cli
