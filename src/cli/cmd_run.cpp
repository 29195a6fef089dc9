// run: the evaluation, from a config file or the short form.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "clinbench/config.h"
#include "clinbench/run.h"
#include "clinbench/select.h"
#include "clinbench/units.h"

namespace clinbench::cli {

namespace {

// The name a path stands for: its stem, or the folder's name for "data/mmlu/".
std::string name_of(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  std::string stem = std::filesystem::path(path).stem().string();
  return stem.empty() ? "dataset" : stem;
}

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
    const double tps = p.decode_ms > 0 ? p.output_tokens / (p.decode_ms / 1000.0) : 0.0;
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
              std::string config, model, dataset, out, scoring, strategy, shard, isolation;
              std::string base_url, api_model, ca_cert, rpc;
              std::optional<int> in_flight;
              std::optional<size_t> limit;
              std::optional<int> max_tokens;
              std::optional<uint32_t> ctx;
              std::optional<uint64_t> seed;
              std::optional<int> parallel;
              bool constrained = false, strict = false;
            };
            auto o = std::make_shared<Opts>();
            sub->add_option("--config", o->config, "TOML run config (docs/config.md)");
            sub->add_option("--model", o->model, "short form: one GGUF model");
            sub->add_option("--base-url", o->base_url,
                            "short form: a model served over the OpenAI API at this URL "
                            "(http://host:port/v1) instead of --model");
            sub->add_option("--api-model", o->api_model,
                            "short form: the served model's name (default: the first the "
                            "server lists)");
            sub->add_option("--ca-cert", o->ca_cert,
                            "PEM file of the CAs to trust for models served over https "
                            "(default: the system's)");
            sub->add_option("--in-flight", o->in_flight,
                            "requests in flight for models served over HTTP (default 4)")
                ->check(CLI::Range(1, 1024));
            sub->add_option("--dataset", o->dataset, "short form: one dataset file or directory");
            sub->add_option("--limit", o->limit, "short form: evaluate a subset of N items");
            sub->add_option("--seed", o->seed, "short form: which subset (and sampling seed)");
            sub->add_option("--out", o->out, "run directory (default runs/<model>-<dataset>)");
            sub->add_option("--scoring", o->scoring, "generate | loglik");
            sub->add_option("--strategy", o->strategy, "loading strategy (default auto)");
            sub->add_option("--max-tokens", o->max_tokens, "token budget per turn");
            sub->add_option("--ctx", o->ctx, "context length");
            sub->add_flag("--constrained-answer", o->constrained,
                          "grammar-constrained final 'Answer: X' after free reasoning");
            sub->add_flag("--strict", o->strict, "a bad dataset row fails the run");
            sub->add_option("--shard", o->shard, "evaluate shard I/N of the items");
            sub->add_option("--parallel", o->parallel,
                            "items whose generation decodes together (1-7, default 4)")
                ->check(CLI::Range(1, 7));
            sub->add_option("--isolation", o->isolation, "process (default) | none");
            add_rpc_option(sub, &o->rpc);
            return [o]() -> int {
              if (auto rc = apply_rpc_option(o->rpc)) return *rc;
              RunConfig cfg;
              if (!o->config.empty()) {
                if (!o->model.empty() || !o->dataset.empty() || !o->base_url.empty()) {
                  std::fprintf(stderr,
                               "clinbench: --config and --model/--base-url/--dataset are "
                               "exclusive\n");
                  return kExitUsage;
                }
                auto c = read_run_config(o->config);
                if (!c) return report_error(c.error());
                cfg = std::move(*c);
              } else {
                if (o->model.empty() == o->base_url.empty() || o->dataset.empty()) {
                  std::fprintf(stderr,
                               "clinbench: run needs --config FILE, or --dataset and "
                               "one of --model and --base-url\n");
                  return kExitUsage;
                }
                ModelConfig m;
                if (!o->base_url.empty()) {
                  m.backend = "openai";
                  m.base_url = o->base_url;
                  m.api_model = o->api_model;
                  m.strategy = "remote";
                  m.name = o->api_model.empty() ? "remote" : name_of(o->api_model);
                } else {
                  m.path = o->model;
                  m.name = name_of(o->model);
                }
                cfg.models.push_back(m);
                DatasetConfig d;
                d.path = o->dataset;
                d.name = name_of(o->dataset);
                d.limit = o->limit;
                if (o->seed) d.seed = *o->seed;
                cfg.datasets.push_back(d);
                cfg.out = "runs/" + m.name + "-" + d.name;
              }
              if (!o->out.empty()) cfg.out = o->out;
              if (cfg.out.empty()) {
                std::fprintf(stderr,
                             "clinbench: no run directory: give --out or out = in the config\n");
                return kExitUsage;
              }
              if (!o->scoring.empty()) {
                auto s = scoring_from_string(o->scoring);
                if (!s) {
                  std::fprintf(stderr,
                               "clinbench: --scoring: unknown value '%s' (expected generate or "
                               "loglik)\n",
                               o->scoring.c_str());
                  return kExitUsage;
                }
                cfg.decoding.scoring = *s;
              }
              for (auto& m : cfg.models) {
                if (m.remote()) {
                  if (o->in_flight) m.in_flight = *o->in_flight;
                  if (!o->ca_cert.empty()) {
                    if (m.base_url.rfind("https://", 0) != 0) {
                      std::fprintf(stderr,
                                   "clinbench: --ca-cert: applies to an https:// base URL only, "
                                   "not %s\n",
                                   m.base_url.c_str());
                      return kExitUsage;
                    }
                    m.ca_cert = o->ca_cert;
                  }
                  continue;  // --strategy and --ctx are for models loaded here
                }
                if (!o->strategy.empty()) m.strategy = o->strategy;
                if (o->ctx) m.ctx = *o->ctx;
              }
              if (o->max_tokens) cfg.decoding.max_tokens = *o->max_tokens;
              if (o->parallel) cfg.decoding.parallel = *o->parallel;
              if (o->seed) cfg.decoding.seed = *o->seed;
              if (o->constrained) cfg.decoding.constrained_answer = true;
              if (o->strict) cfg.decoding.strict = true;
              if (!o->shard.empty()) {
                auto sh = parse_shard(o->shard);
                if (!sh) return report_error(sh.error().with_context("--shard"));
                cfg.shard = *sh;
              }
              RunOptions ro;
              ro.config_path = o->config;
              if (o->isolation == "none") {
                ro.isolation = Isolation::kNone;
              } else if (!o->isolation.empty() && o->isolation != "process") {
                std::fprintf(stderr, "clinbench: --isolation: unknown value '%s'\n",
                             o->isolation.c_str());
                return kExitUsage;
              }
              ProgressPrinter printer;
              ro.progress = [&printer](const RunProgress& p) { printer(p); };
              auto r = run_evaluation(cfg, ro);
              if (!r) return report_error(r.error());
              std::cout << r->summary;
              std::cout << fmt::format(
                  "run directory {}: {} item(s) evaluated, {} resumed, {} bad dataset row(s) "
                  "skipped; {} model(s) loaded, {} failed\n",
                  cfg.out, r->items_evaluated, r->items_resumed, r->dataset_rows_skipped,
                  r->models_loaded, r->models_failed);
              return r->models_failed > 0 ? kExitFailed : kExitOk;
            };
          }};
}

}  // namespace

std::vector<Command> run_commands() { return {run_command()}; }

}  // namespace clinbench::cli
