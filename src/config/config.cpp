// The run config file: TOML read with toml++ into RunConfig (docs/config.md).
//
// Every problem found is collected, not only the first, so one edit fixes a file. Each names the
// file, the line when toml++ knows it, the key path ("models[1].ctx") and what was wrong. toml++ is
// built with exceptions on Debian; its parse_error is caught here and nothing else escapes.
#include "clinbench/config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <system_error>

#include "clinbench/attempt.h"
#include "clinbench/dataset.h"
#include "clinbench/select.h"
#include "clinbench/strategy.h"
#include "clinbench/units.h"

namespace clinbench {

namespace fs = std::filesystem;

namespace {

const char* type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "nothing";
  }
}

std::string join_path(const std::string& prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
}

// A path from the file: absolute as written, relative ones against the config's directory.
std::string resolve(const fs::path& base, const std::string& path) {
  if (path.empty() || base.empty()) return path;
  const fs::path p(path);
  if (p.is_absolute()) return path;
  return (base / p).lexically_normal().string();
}

// The default name of a model or dataset: the file stem ("data/mmlu/" gives
// "mmlu").
std::string default_name(const std::string& path) {
  fs::path p = fs::path(path).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.stem().string();
}

std::string strategy_names() {
  std::string names = "auto";
  for (Strategy s : auto_chain()) names += std::string(", ") + to_string(s);
  return names;
}

bool is_builtin_recipe(const std::string& name) {
  for (const Recipe& r : builtin_recipes()) {
    if (r.name == name) return true;
  }
  return false;
}

// Reads one file's tables, collecting problems.
class ConfigReader {
 public:
  ConfigReader(std::string source, fs::path base)
      : source_(std::move(source)), base_(std::move(base)) {}

  // One table of the file: tracks the keys read, so finish() can name the unknown ones.
  class Table {
   public:
    Table(ConfigReader* reader, const toml::table* table, std::string path)
        : reader_(reader), table_(table), path_(std::move(path)) {}

    const std::string& path() const { return path_; }
    std::string key_path(std::string_view key) const { return join_path(path_, key); }

    // The node under `key` (nullptr when absent); marks the key as known.
    const toml::node* get(std::string_view key) {
      if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.emplace_back(key);
      return table_ == nullptr ? nullptr : table_->get(key);
    }

    bool string(std::string_view key, std::string* out) {
      const toml::node* node = get(key);
      if (node == nullptr) return false;
      if (auto v = node->value_exact<std::string>()) {
        *out = *v;
        return true;
      }
      wrong_type(node, key, "a string");
      return false;
    }

    // An integer in [min, max].
    template <typename T>
    bool integer(std::string_view key, int64_t min, int64_t max, T* out) {
      const toml::node* node = get(key);
      if (node == nullptr) return false;
      const auto* v = node->as_integer();
      if (v == nullptr) {
        wrong_type(node, key, "an integer");
        return false;
      }
      const int64_t x = v->get();
      if (x < min || x > max) {
        if (max == std::numeric_limits<int64_t>::max()) {
          reader_->error(node, key_path(key), fmt::format("must be at least {}, got {}", min, x));
        } else {
          reader_->error(node, key_path(key),
                         fmt::format("must be between {} and {}, got {}", min, max, x));
        }
        return false;
      }
      *out = static_cast<T>(x);
      return true;
    }

    bool boolean(std::string_view key, bool* out) {
      const toml::node* node = get(key);
      if (node == nullptr) return false;
      if (auto v = node->value_exact<bool>()) {
        *out = *v;
        return true;
      }
      wrong_type(node, key, "a boolean (true or false)");
      return false;
    }

    // A finite number >= 0; integers are accepted ("temperature = 0").
    bool non_negative(std::string_view key, double* out) {
      const toml::node* node = get(key);
      if (node == nullptr) return false;
      double x = 0;
      if (const auto* f = node->as_floating_point()) {
        x = f->get();
      } else if (const auto* i = node->as_integer()) {
        x = static_cast<double>(i->get());
      } else {
        wrong_type(node, key, "a number");
        return false;
      }
      if (!std::isfinite(x) || x < 0) {
        reader_->error(node, key_path(key), fmt::format("must be a finite number >= 0, got {}", x));
        return false;
      }
      *out = x;
      return true;
    }

    // A byte size: "8GiB", "512MiB", or an integer number of bytes. Must be positive.
    bool size(std::string_view key, std::optional<uint64_t>* out) {
      const toml::node* node = get(key);
      if (node == nullptr) return false;
      uint64_t bytes = 0;
      if (auto s = node->value_exact<std::string>()) {
        auto parsed = parse_size(*s);
        if (!parsed) {
          reader_->error(node, key_path(key), parsed.error().message);
          return false;
        }
        bytes = *parsed;
      } else if (const auto* i = node->as_integer()) {
        if (i->get() < 0) {
          reader_->error(node, key_path(key), fmt::format("must be positive, got {}", i->get()));
          return false;
        }
        bytes = static_cast<uint64_t>(i->get());
      } else {
        wrong_type(node, key, "a size such as \"8GiB\" or an integer number of bytes");
        return false;
      }
      if (bytes == 0) {
        reader_->error(node, key_path(key), "must be positive, got 0 bytes");
        return false;
      }
      *out = bytes;
      return true;
    }

    // Reports every key of the table that was not read.
    void finish() {
      if (table_ == nullptr) return;
      for (auto&& [key, node] : *table_) {
        if (std::find(known_.begin(), known_.end(), key.str()) != known_.end()) continue;
        std::string known;
        for (const std::string& k : known_) known += (known.empty() ? "" : ", ") + k;
        reader_->error(&node, key_path(key.str()),
                       fmt::format("unknown key (known keys here: {})", known));
      }
    }

    void wrong_type(const toml::node* node, std::string_view key, const char* expected) {
      reader_->error(node, key_path(key),
                     fmt::format("expected {}, got {}", expected, type_name(*node)));
    }

   private:
    ConfigReader* reader_;
    const toml::table* table_;
    std::string path_;
    std::vector<std::string> known_;
  };

  void error(const toml::node* node, const std::string& key_path, const std::string& what) {
    std::string where = source_;
    if (node != nullptr && node->source().begin.line > 0) {
      where += fmt::format(":{}", node->source().begin.line);
    }
    errors_.push_back(key_path.empty() ? fmt::format("{}: {}", where, what)
                                       : fmt::format("{}: {}: {}", where, key_path, what));
  }

  const std::vector<std::string>& errors() const { return errors_; }

  RunConfig read(const toml::table& root) {
    RunConfig config;
    Table top(this, &root, "");
    if (top.string("out", &config.out)) config.out = resolve(base_, config.out);
    std::string shard;
    if (top.string("shard", &shard)) {
      auto parsed = parse_shard(shard);
      if (parsed) {
        config.shard = *parsed;
      } else {
        error(top.get("shard"), "shard", parsed.error().message);
      }
    }
    read_models(top, &config);
    read_datasets(top, &config);
    if (const toml::node* node = top.get("prompts")) {
      if (const toml::table* t = node->as_table()) {
        read_prompts(Table(this, t, "prompts"), &config.prompts);
      } else {
        top.wrong_type(node, "prompts", "a table ([prompts])");
      }
    }
    if (const toml::node* node = top.get("decoding")) {
      if (const toml::table* t = node->as_table()) {
        read_decoding(Table(this, t, "decoding"), &config.decoding);
      } else {
        top.wrong_type(node, "decoding", "a table ([decoding])");
      }
    }
    top.finish();
    return config;
  }

 private:
  // The tables of an array of tables ([[key]]); problems reported.
  std::vector<std::pair<const toml::table*, std::string>> table_array(Table& top,
                                                                      std::string_view key) {
    std::vector<std::pair<const toml::table*, std::string>> out;
    const toml::node* node = top.get(key);
    if (node == nullptr) return out;
    const toml::array* array = node->as_array();
    if (array == nullptr) {
      top.wrong_type(node, key, fmt::format("an array of tables ([[{}]])", key).c_str());
      return out;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = (*array)[i];
      const std::string path = fmt::format("{}[{}]", key, i);
      if (const toml::table* t = element.as_table()) {
        out.emplace_back(t, path);
      } else {
        error(&element, path, fmt::format("expected a table, got {}", type_name(element)));
      }
    }
    return out;
  }

  void read_models(Table& top, RunConfig* config) {
    const auto tables = table_array(top, "models");
    std::map<std::string, std::string> names;  // name -> key path of its first model
    for (const auto& [table, path] : tables) {
      Table t(this, table, path);
      ModelConfig m;
      if (t.string("backend", &m.backend) && m.backend != "llama" && m.backend != "openai") {
        error(t.get("backend"), t.key_path("backend"),
              fmt::format("unknown backend '{}' (expected llama or openai)", m.backend));
      }
      if (m.remote()) {
        read_remote_model(t, table, &m);
      } else {
        read_llama_model(t, table, &m);
      }
      Thinking thinking = Thinking::kAuto;
      if (read_thinking(t, &thinking)) m.thinking = thinking;
      t.finish();
      check_unique(names, m.name, path, table, "model");
      config->models.push_back(std::move(m));
    }
    report_if_none(top, "models", tables.empty(),
                   "no models: add at least one [[models]] table "
                   "with a path");
  }

  // "auto", "on" or "off"; false when absent or wrong (reported).
  bool read_thinking(Table& t, Thinking* out) {
    std::string text;
    if (!t.string("thinking", &text)) return false;
    if (auto v = thinking_from_string(text)) {
      *out = *v;
      return true;
    }
    error(t.get("thinking"), t.key_path("thinking"),
          fmt::format("unknown value '{}' (expected auto, on or off)", text));
    return false;
  }

  // Keys of the other backend are errors, naming the backend they belong to.
  void reject_keys(Table& t, std::initializer_list<std::string_view> keys, const char* backend) {
    for (std::string_view key : keys) {
      if (const toml::node* node = t.get(key)) {
        error(node, t.key_path(key),
              fmt::format("only for backend = \"{}\" (this model's backend is \"{}\")", backend,
                          backend == std::string_view("llama") ? "openai" : "llama"));
      }
    }
  }

  void read_llama_model(Table& t, const toml::table* table, ModelConfig* m) {
    if (!t.string("path", &m->path)) {
      if (t.get("path") == nullptr) error(table, t.key_path("path"), "missing (the GGUF file)");
    } else if (m->path.empty()) {
      error(t.get("path"), t.key_path("path"), "is empty");
    }
    const bool has_name = t.string("name", &m->name);
    if (has_name && m->name.empty()) error(t.get("name"), t.key_path("name"), "is empty");
    if (!has_name) m->name = default_name(m->path);
    m->path = resolve(base_, m->path);
    if (t.string("strategy", &m->strategy)) {
      if (m->strategy != "auto" && !strategy_from_string(m->strategy)) {
        error(t.get("strategy"), t.key_path("strategy"),
              fmt::format("unknown strategy '{}' (expected one of: {})", m->strategy,
                          strategy_names()));
      }
    }
    if (t.string("recipe", &m->recipe)) {
      if (m->recipe.empty()) {
        error(t.get("recipe"), t.key_path("recipe"), "is empty");
      } else if (!is_builtin_recipe(m->recipe)) {
        m->recipe = resolve(base_, m->recipe);  // a recipe file, like the other paths
      }
    }
    t.size("host_memory", &m->host_memory);
    t.size("device_memory", &m->device_memory);
    t.integer("ctx", 1, std::numeric_limits<int32_t>::max(), &m->ctx);
    t.integer("threads", 0, std::numeric_limits<int32_t>::max(), &m->threads);
    read_adapters(t, m);
    reject_keys(t,
                {"base_url", "api_model", "api_key_env", "ca_cert", "in_flight", "timeout",
                 "retries", "retry_backoff"},
                "openai");
  }

  void read_remote_model(Table& t, const toml::table* table, ModelConfig* m) {
    if (!t.string("base_url", &m->base_url)) {
      if (t.get("base_url") == nullptr) {
        error(table, t.key_path("base_url"),
              "missing (the server's API root, e.g. \"http://127.0.0.1:8080/v1\")");
      }
    } else if (m->base_url.rfind("http://", 0) != 0 && m->base_url.rfind("https://", 0) != 0) {
      error(t.get("base_url"), t.key_path("base_url"),
            fmt::format("'{}' is not an http:// or https:// URL", m->base_url));
    }
    t.string("api_model", &m->api_model);
    const bool has_name = t.string("name", &m->name);
    if (has_name && m->name.empty()) error(t.get("name"), t.key_path("name"), "is empty");
    if (!has_name) {
      m->name = m->api_model;
      if (m->name.empty()) {
        error(table, t.key_path("name"), "missing (a remote model needs a name or an api_model)");
      }
    }
    if (t.string("api_key_env", &m->api_key_env) && m->api_key_env.empty()) {
      error(t.get("api_key_env"), t.key_path("api_key_env"), "is empty");
    }
    if (t.string("ca_cert", &m->ca_cert)) {
      if (m->ca_cert.empty()) {
        error(t.get("ca_cert"), t.key_path("ca_cert"), "is empty");
      } else if (m->base_url.rfind("https://", 0) != 0) {
        error(t.get("ca_cert"), t.key_path("ca_cert"), "applies to an https:// base_url only");
      } else {
        m->ca_cert = resolve(base_, m->ca_cert);
      }
    }
    t.integer("in_flight", 1, 1024, &m->in_flight);
    t.integer("retries", 0, 100, &m->retries);
    if (t.non_negative("timeout", &m->timeout_s) && m->timeout_s <= 0) {
      error(t.get("timeout"), t.key_path("timeout"), "must be more than 0 seconds");
    }
    t.non_negative("retry_backoff", &m->retry_backoff_s);
    m->strategy = kRemoteStrategyName;
    reject_keys(t,
                {"path", "strategy", "recipe", "host_memory", "device_memory", "ctx", "threads",
                 "adapters"},
                "llama");
  }

  // adapters = [{ path = "a.gguf", scale = 0.5 }, ...]: each a table with a path (relative to the
  // config file) and an optional finite scale.
  void read_adapters(Table& t, ModelConfig* m) {
    const toml::node* node = t.get("adapters");
    if (node == nullptr) return;
    const toml::array* array = node->as_array();
    if (array == nullptr) {
      t.wrong_type(node, "adapters",
                   "an array of tables (adapters = [{ path = \"a.gguf\", scale = 1.0 }])");
      return;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = (*array)[i];
      const std::string path = fmt::format("{}[{}]", t.key_path("adapters"), i);
      const toml::table* table = element.as_table();
      if (table == nullptr) {
        error(&element, path,
              fmt::format("expected a table ({{ path = \"a.gguf\", scale = 1.0 }}), got {}",
                          type_name(element)));
        continue;
      }
      Table a(this, table, path);
      AdapterSpec spec;
      if (!a.string("path", &spec.path)) {
        if (a.get("path") == nullptr)
          error(table, a.key_path("path"), "missing (the adapter GGUF)");
      } else if (spec.path.empty()) {
        error(a.get("path"), a.key_path("path"), "is empty");
      }
      spec.path = resolve(base_, spec.path);
      if (const toml::node* s = a.get("scale")) {
        if (s->is_floating_point() || s->is_integer()) {
          const double x = s->is_integer() ? static_cast<double>(s->as_integer()->get())
                                           : s->as_floating_point()->get();
          if (std::isfinite(x) && std::abs(x) <= std::numeric_limits<float>::max()) {
            spec.scale = static_cast<float>(x);
          } else {
            error(s, a.key_path("scale"), fmt::format("must be a finite number, got {}", x));
          }
        } else {
          a.wrong_type(s, "scale", "a number");
        }
      }
      a.finish();
      m->adapters.push_back(std::move(spec));
    }
  }

  void read_datasets(Table& top, RunConfig* config) {
    const auto tables = table_array(top, "datasets");
    std::map<std::string, std::string> names;
    for (const auto& [table, path] : tables) {
      Table t(this, table, path);
      DatasetConfig d;
      if (!t.string("path", &d.path)) {
        if (t.get("path") == nullptr) {
          error(table, t.key_path("path"), "missing (the dataset file or directory)");
        }
      } else if (d.path.empty()) {
        error(t.get("path"), t.key_path("path"), "is empty");
      }
      const bool has_name = t.string("name", &d.name);
      if (has_name && d.name.empty()) error(t.get("name"), t.key_path("name"), "is empty");
      if (!has_name) d.name = default_name(d.path);
      d.path = resolve(base_, d.path);
      if (t.string("format", &d.format)) {
        if (auto f = dataset_format_from_string(d.format)) {
          d.format = to_string(*f);
        } else {
          error(t.get("format"), t.key_path("format"),
                fmt::format("unknown format '{}' (expected one of: auto, "
                            "curebench, medqa, "
                            "medmcqa, mmlu, pubmedqa)",
                            d.format));
        }
      }
      t.string("split", &d.split);
      std::size_t limit = 0;
      if (t.integer("limit", 1, std::numeric_limits<int64_t>::max(), &limit)) d.limit = limit;
      t.integer("seed", 0, std::numeric_limits<int64_t>::max(), &d.seed);
      t.finish();
      check_unique(names, d.name, path, table, "dataset");
      config->datasets.push_back(std::move(d));
    }
    report_if_none(top, "datasets", tables.empty(),
                   "no datasets: add at least one [[datasets]] table with a path");
  }

  // An absent key or an empty array: a run needs at least one model and one dataset. (A key of the
  // wrong type, or tables that are all broken, are reported already.)
  void report_if_none(Table& top, std::string_view key, bool no_tables, const char* what) {
    if (!no_tables) return;
    const toml::node* node = top.get(key);
    if (node == nullptr) {
      error(nullptr, "", what);
    } else if (const toml::array* a = node->as_array(); a != nullptr && a->empty()) {
      error(node, std::string(key), what);
    }
  }

  void check_unique(std::map<std::string, std::string>& names, const std::string& name,
                    const std::string& path, const toml::table* table, const char* what) {
    if (name.empty()) return;  // reported already (empty name or missing path)
    auto [it, inserted] = names.emplace(name, path);
    if (!inserted) {
      error(table, path + ".name",
            fmt::format("duplicate {} name '{}' ({} has it too; give each a "
                        "distinct name)",
                        what, name, it->second));
    }
  }

  void read_prompts(Table t, PromptConfig* p) {
    t.string("system", &p->system);
    t.string("multi_choice_instruction", &p->multi_choice_instruction);
    t.string("open_instruction", &p->open_instruction);
    t.string("map_instruction", &p->map_instruction);
    t.finish();
  }

  void read_decoding(Table t, DecodingConfig* d) {
    std::string scoring;
    if (t.string("scoring", &scoring)) {
      if (auto s = scoring_from_string(scoring)) {
        d->scoring = *s;
      } else {
        error(t.get("scoring"), t.key_path("scoring"),
              fmt::format("unknown scoring '{}' (expected generate or loglik)", scoring));
      }
    }
    t.integer("max_tokens", 1, std::numeric_limits<int32_t>::max(), &d->max_tokens);
    t.integer("loglik_batch", 1, static_cast<int64_t>(kMaxSequences), &d->loglik_batch);
    double temperature = 0;
    if (t.non_negative("temperature", &temperature))
      d->temperature = static_cast<float>(temperature);
    t.integer("seed", 0, std::numeric_limits<int64_t>::max(), &d->seed);
    t.boolean("constrained_answer", &d->constrained_answer);
    t.boolean("strict", &d->strict);
    read_thinking(t, &d->thinking);
    if (const toml::node* n = t.get("reasoning_budget"); n != nullptr && n->is_string()) {
      if (n->value_exact<std::string>() == "unlimited") {
        d->reasoning_budget = kUnlimitedReasoning;
      } else {
        error(n, t.key_path("reasoning_budget"),
              "must be \"unlimited\" or a number of tokens (0 or more)");
      }
    } else {
      t.integer("reasoning_budget", 0, std::numeric_limits<int32_t>::max(), &d->reasoning_budget);
    }
    if (const toml::node* n = t.get("parallel"); n != nullptr && n->is_string()) {
      if (n->value_exact<std::string>() == "auto") {
        d->parallel = kParallelAuto;
      } else {
        error(n, t.key_path("parallel"),
              fmt::format("must be \"auto\" or an integer between 1 and {}", kMaxSequences));
      }
    } else {
      t.integer("parallel", 1, static_cast<int64_t>(kMaxSequences), &d->parallel);
    }
    if (std::string kv; t.string("kv", &kv)) {
      if (auto k = kv_layout_from_string(kv)) {
        d->kv = *k;
      } else {
        error(t.get("kv"), t.key_path("kv"),
              fmt::format("unknown KV layout '{}' (expected auto, split or unified)", kv));
      }
    }
    t.finish();
  }

  std::string source_;
  fs::path base_;
  std::vector<std::string> errors_;
};

}  // namespace

Result<RunConfig> parse_run_config(std::string_view toml_text, const std::string& source_name) {
  toml::table root;
  try {
    root = toml::parse(toml_text, std::string_view(source_name));
  } catch (const toml::parse_error& e) {
    const auto& begin = e.source().begin;
    return make_error(ErrorCode::kCorrupt, fmt::format("{}:{}:{}: not valid TOML: {}", source_name,
                                                       begin.line, begin.column, e.description()));
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal,
                      fmt::format("{}: reading the TOML failed: {}", source_name, e.what()));
  }
  ConfigReader reader(source_name, fs::path(source_name).parent_path());
  RunConfig config = reader.read(root);
  if (!reader.errors().empty()) {
    std::string message;
    for (const std::string& e : reader.errors()) message += (message.empty() ? "" : "\n") + e;
    return make_error(ErrorCode::kInvalidArgument, std::move(message));
  }
  return config;
}

Result<RunConfig> read_run_config(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return make_error(ErrorCode::kNotFound,
                      fmt::format("{}: config file not found", path.string()));
  }
  if (fs::is_directory(path, ec)) {
    return make_error(ErrorCode::kIo,
                      fmt::format("{}: is a directory, not a config file", path.string()));
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) {
    return make_error(ErrorCode::kIo,
                      fmt::format("{}: cannot read the config file", path.string()));
  }
  return parse_run_config(text.str(), path.string());
}

nlohmann::json to_json(const RunConfig& config) {
  auto size_json = [](const std::optional<uint64_t>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json();
  };
  nlohmann::json models = nlohmann::json::array();
  for (const ModelConfig& m : config.models) {
    models.push_back({{"name", m.name},
                      {"path", m.path},
                      {"strategy", m.strategy},
                      {"recipe", m.recipe},
                      {"host_memory", size_json(m.host_memory)},
                      {"device_memory", size_json(m.device_memory)},
                      {"ctx", m.ctx},
                      {"threads", m.threads}});
    if (m.thinking) models.back()["thinking"] = to_string(*m.thinking);
    if (!m.adapters.empty()) {
      nlohmann::json adapters = nlohmann::json::array();
      for (const AdapterSpec& a : m.adapters) {
        adapters.push_back({{"path", a.path}, {"scale", a.scale}});
      }
      models.back()["adapters"] = std::move(adapters);
    }
    if (m.remote()) {  // the key's name only: its value is never recorded
      models.back()["backend"] = m.backend;
      models.back()["base_url"] = m.base_url;
      models.back()["api_model"] = m.api_model;
      models.back()["api_key_env"] = m.api_key_env;
      if (!m.ca_cert.empty()) models.back()["ca_cert"] = m.ca_cert;
      models.back()["in_flight"] = m.in_flight;
      models.back()["timeout"] = m.timeout_s;
      models.back()["retries"] = m.retries;
      models.back()["retry_backoff"] = m.retry_backoff_s;
    }
  }
  nlohmann::json datasets = nlohmann::json::array();
  for (const DatasetConfig& d : config.datasets) {
    datasets.push_back({{"name", d.name},
                        {"path", d.path},
                        {"format", d.format},
                        {"split", d.split},
                        {"limit", d.limit ? nlohmann::json(*d.limit) : nlohmann::json()},
                        {"seed", d.seed}});
  }
  return {
      {"out", config.out},
      {"shard", config.shard ? nlohmann::json(format_shard(*config.shard)) : nlohmann::json()},
      {"models", std::move(models)},
      {"datasets", std::move(datasets)},
      {"prompts",
       {{"system", config.prompts.system},
        {"multi_choice_instruction", config.prompts.multi_choice_instruction},
        {"open_instruction", config.prompts.open_instruction},
        {"map_instruction", config.prompts.map_instruction}}},
      {"decoding",
       {{"scoring", to_string(config.decoding.scoring)},
        {"max_tokens", config.decoding.max_tokens},
        {"temperature", config.decoding.temperature},
        {"seed", config.decoding.seed},
        {"constrained_answer", config.decoding.constrained_answer},
        {"strict", config.decoding.strict},
        {"parallel", config.decoding.parallel == kParallelAuto
                         ? nlohmann::json("auto")
                         : nlohmann::json(config.decoding.parallel)},
        {"kv", to_string(config.decoding.kv)},
        {"loglik_batch", config.decoding.loglik_batch},
        {"thinking", to_string(config.decoding.thinking)},
        {"reasoning_budget", config.decoding.reasoning_budget == kUnlimitedReasoning
                                 ? nlohmann::json("unlimited")
                                 : nlohmann::json(config.decoding.reasoning_budget)}}},
  };
}

}  // namespace clinbench
