// The run config file: a complete file, defaults, path resolution, and every kind of bad input with
// an error that names the file, the key and the problem.
#include "clinbench/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "test_util.h"

namespace clinbench {
namespace {

namespace fs = std::filesystem;

constexpr const char* kGood = R"(
out = "runs/dev"
shard = "1/4"

[[models]]
name = "tiny"
path = "models/stories260K.gguf"
strategy = "quantize:q8"
recipe = "uniform"
host_memory = "8GiB"
device_memory = 1073741824
ctx = 2048
threads = 4

[[models]]
path = "/abs/llama-3-8b.Q4_K_M.gguf"

[[datasets]]
name = "cure-val"
path = "data/curebench_valset.jsonl"
format = "curebench"
split = "val"
limit = 100
seed = 42

[[datasets]]
path = "data/mmlu/"
format = "MedMCQA"

[prompts]
system = "You are a doctor."
multi_choice_instruction = "Pick one."
open_instruction = "Answer."
map_instruction = "Which letter?"

[decoding]
scoring = "loglik"
max_tokens = 256
temperature = 0.7
seed = 123
constrained_answer = true
strict = true
)";

Result<RunConfig> parse(const std::string& text, const std::string& name = "conf/run.toml") {
  return parse_run_config(text, name);
}

// The error message of a config that must fail.
std::string error_of(const std::string& text, ErrorCode code = ErrorCode::kInvalidArgument) {
  auto r = parse(text);
  EXPECT_FALSE(r) << text;
  if (r) return "";
  EXPECT_EQ(r.error().code, code) << r.error().message;
  return r.error().message;
}

const std::string kModel = "[[models]]\npath = \"m.gguf\"\n";
const std::string kDataset = "[[datasets]]\npath = \"d.jsonl\"\n";

#define EXPECT_HAS(haystack, needle)                                                            \
  EXPECT_NE((haystack).find(needle), std::string::npos) << "missing '" << (needle) << "' in:\n" \
                                                        << (haystack)

TEST(ConfigParse, ReadsEveryKey) {
  auto r = parse(kGood);
  ASSERT_TRUE(r) << r.error().message;
  const RunConfig& c = *r;
  EXPECT_EQ(c.out, "conf/runs/dev");
  ASSERT_TRUE(c.shard);
  EXPECT_EQ(*c.shard, std::make_pair(1, 4));

  ASSERT_EQ(c.models.size(), 2u);
  const ModelConfig& m = c.models[0];
  EXPECT_EQ(m.name, "tiny");
  EXPECT_EQ(m.path,
            "conf/models/stories260K.gguf");  // relative to the config's directory
  EXPECT_EQ(m.strategy, "quantize:q8");
  EXPECT_EQ(m.recipe, "uniform");
  EXPECT_EQ(m.host_memory, 8ull << 30);
  EXPECT_EQ(m.device_memory, 1ull << 30);
  EXPECT_EQ(m.ctx, 2048u);
  EXPECT_EQ(m.threads, 4);
  // Defaults for what the second model leaves out; absolute paths stay as written.
  const ModelConfig& m2 = c.models[1];
  EXPECT_EQ(m2.name, "llama-3-8b.Q4_K_M");
  EXPECT_EQ(m2.path, "/abs/llama-3-8b.Q4_K_M.gguf");
  EXPECT_EQ(m2.strategy, ModelConfig{}.strategy);
  EXPECT_EQ(m2.recipe, ModelConfig{}.recipe);
  EXPECT_FALSE(m2.host_memory);
  EXPECT_FALSE(m2.device_memory);
  EXPECT_EQ(m2.ctx, ModelConfig{}.ctx);
  EXPECT_EQ(m2.threads, 0);

  ASSERT_EQ(c.datasets.size(), 2u);
  const DatasetConfig& d = c.datasets[0];
  EXPECT_EQ(d.name, "cure-val");
  EXPECT_EQ(d.path, "conf/data/curebench_valset.jsonl");
  EXPECT_EQ(d.format, "curebench");
  EXPECT_EQ(d.split, "val");
  EXPECT_EQ(d.limit, 100u);
  EXPECT_EQ(d.seed, 42u);
  const DatasetConfig& d2 = c.datasets[1];
  EXPECT_EQ(d2.name, "mmlu");     // a directory's name
  EXPECT_EQ(d2.format, "medqa");  // medmcqa is read as medqa, case-insensitively
  EXPECT_EQ(d2.split, "");
  EXPECT_FALSE(d2.limit);
  EXPECT_EQ(d2.seed, 0u);

  EXPECT_EQ(c.prompts.system, "You are a doctor.");
  EXPECT_EQ(c.prompts.multi_choice_instruction, "Pick one.");
  EXPECT_EQ(c.prompts.open_instruction, "Answer.");
  EXPECT_EQ(c.prompts.map_instruction, "Which letter?");
  EXPECT_EQ(c.decoding.scoring, Scoring::kLoglik);
  EXPECT_EQ(c.decoding.max_tokens, 256);
  EXPECT_FLOAT_EQ(c.decoding.temperature, 0.7f);
  EXPECT_EQ(c.decoding.seed, 123u);
  EXPECT_TRUE(c.decoding.constrained_answer);
  EXPECT_TRUE(c.decoding.strict);
}

TEST(ConfigParse, MinimalFileGetsTheDefaults) {
  auto r = parse(kModel + kDataset,
                 "run.toml");  // no directory: paths stay as written
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->models[0].path, "m.gguf");
  EXPECT_EQ(r->models[0].name, "m");
  EXPECT_EQ(r->datasets[0].name, "d");
  EXPECT_EQ(r->out, "");
  EXPECT_FALSE(r->shard);
  const PromptConfig p;
  EXPECT_EQ(r->prompts.system, p.system);
  EXPECT_EQ(r->prompts.map_instruction, p.map_instruction);
  const DecodingConfig dc;
  EXPECT_EQ(r->decoding.scoring, Scoring::kGenerate);
  EXPECT_EQ(r->decoding.max_tokens, dc.max_tokens);
  EXPECT_EQ(r->decoding.temperature, 0.0f);
  EXPECT_FALSE(r->decoding.constrained_answer);
  EXPECT_FALSE(r->decoding.strict);
}

TEST(ConfigParse, IntegerTemperatureAndEmptySystemPromptAreAccepted) {
  auto r = parse(kModel + kDataset + "[prompts]\nsystem = \"\"\n[decoding]\ntemperature = 1\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->prompts.system, "");
  EXPECT_FLOAT_EQ(r->decoding.temperature, 1.0f);
}

TEST(ConfigParse, RecipeFileResolvesButBuiltinNamesDoNot) {
  auto r = parse(
      "[[models]]\npath = \"a.gguf\"\nrecipe = \"recipes/r.txt\"\n"
      "[[models]]\npath = \"b.gguf\"\nrecipe = \"mixed\"\n" +
      kDataset);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->models[0].recipe, "conf/recipes/r.txt");
  EXPECT_EQ(r->models[1].recipe, "mixed");
}

TEST(ConfigParse, ScoringNamesRoundTrip) {
  for (Scoring s : {Scoring::kGenerate, Scoring::kLoglik}) {
    EXPECT_EQ(scoring_from_string(to_string(s)), s);
  }
  EXPECT_FALSE(scoring_from_string("Generate"));
  EXPECT_FALSE(scoring_from_string(""));
}

TEST(ConfigJson, HoldsEveryValue) {
  auto r = parse(kGood);
  ASSERT_TRUE(r) << r.error().message;
  const nlohmann::json j = to_json(*r);
  EXPECT_EQ(j["out"], "conf/runs/dev");
  EXPECT_EQ(j["shard"], "1/4");
  EXPECT_EQ(j["models"][0]["host_memory"], 8ull << 30);
  EXPECT_TRUE(j["models"][1]["host_memory"].is_null());
  EXPECT_EQ(j["models"][0]["strategy"], "quantize:q8");
  EXPECT_EQ(j["datasets"][0]["limit"], 100);
  EXPECT_TRUE(j["datasets"][1]["limit"].is_null());
  EXPECT_EQ(j["datasets"][0]["seed"], 42);
  EXPECT_EQ(j["prompts"]["system"], "You are a doctor.");
  EXPECT_EQ(j["decoding"]["scoring"], "loglik");
  EXPECT_EQ(j["decoding"]["strict"], true);
  EXPECT_TRUE(to_json(RunConfig{})["shard"].is_null());
}

// --- bad input --------------------------------------------------------------------------------

TEST(ConfigErrors, InvalidTomlNamesFileLineAndColumn) {
  const std::string m = error_of("out = \"x\"\n[[models]\npath = 1\n", ErrorCode::kCorrupt);
  EXPECT_HAS(m, "conf/run.toml:2:");
  EXPECT_HAS(m, "not valid TOML");
  EXPECT_HAS(error_of("a = \"unterminated\n", ErrorCode::kCorrupt), "conf/run.toml:1:");
  EXPECT_HAS(error_of("x = 1\nx = 2\n", ErrorCode::kCorrupt), "conf/run.toml:2:");
}

TEST(ConfigErrors, UnknownKeysAreNamedWithTheirPath) {
  EXPECT_HAS(error_of("outt = \"x\"\n" + kModel + kDataset), "conf/run.toml:1: outt: unknown key");
  const std::string m =
      error_of(kModel + "[[models]]\npath = \"b.gguf\"\nhots_memory = \"1G\"\n" + kDataset);
  EXPECT_HAS(m, "conf/run.toml:5: models[1].hots_memory: unknown key");
  EXPECT_HAS(m, "host_memory");  // the known keys are listed
  EXPECT_HAS(error_of(kModel + kDataset + "limt = 3\n"), "datasets[0].limt: unknown key");
  // A top-level key written after a table belongs to that table (TOML), and is named so.
  EXPECT_HAS(error_of(kModel + kDataset + "out = \"x\"\n"), "datasets[0].out: unknown key");
  EXPECT_HAS(error_of(kModel + kDataset + "[decoding]\ngreedy = true\n"),
             "decoding.greedy: unknown key");
  EXPECT_HAS(error_of(kModel + kDataset + "[prompts]\nuser = \"x\"\n"),
             "prompts.user: unknown key");
  EXPECT_HAS(error_of(kModel + kDataset + "[extra]\na = 1\n"), "extra: unknown key");
}

TEST(ConfigErrors, WrongTypesNameTheKeyAndBothTypes) {
  EXPECT_HAS(error_of(kModel + "ctx = \"big\"\n" + kDataset),
             "models[0].ctx: expected an integer, got a string");
  EXPECT_HAS(error_of(kModel + "threads = 1.5\n" + kDataset),
             "models[0].threads: expected an integer, got a float");
  EXPECT_HAS(error_of(kModel + "name = 3\n" + kDataset),
             "models[0].name: expected a string, got an integer");
  EXPECT_HAS(error_of("[[models]]\npath = [\"a\"]\n" + kDataset),
             "models[0].path: expected a string, got an array");
  EXPECT_HAS(error_of(kModel + kDataset + "limit = \"ten\"\n"),
             "datasets[0].limit: expected an integer, got a string");
  EXPECT_HAS(error_of(kModel + kDataset + "[decoding]\nstrict = \"yes\"\n"),
             "decoding.strict: expected a boolean");
  EXPECT_HAS(error_of(kModel + kDataset + "[decoding]\ntemperature = \"hot\"\n"),
             "decoding.temperature: expected a number, got a string");
  EXPECT_HAS(error_of("decoding = 3\n" + kModel + kDataset),
             "decoding: expected a table ([decoding]), got an integer");
  EXPECT_HAS(error_of("prompts = \"be nice\"\n" + kModel + kDataset),
             "prompts: expected a table ([prompts]), got a string");
  EXPECT_HAS(error_of("out = 5\n" + kModel + kDataset), "out: expected a string, got an integer");
  EXPECT_HAS(error_of("[models]\npath = \"m.gguf\"\n" + kDataset),
             "models: expected an array of tables ([[models]]), got a table");
  EXPECT_HAS(error_of("models = [1, 2]\n" + kDataset),
             "models[0]: expected a table, got an integer");
  EXPECT_HAS(error_of("shard = 1\n" + kModel + kDataset),
             "shard: expected a string, got an integer");
}

TEST(ConfigErrors, MissingPathsAreNamed) {
  EXPECT_HAS(error_of(kModel + "[[models]]\nname = \"x\"\n" + kDataset),
             "conf/run.toml:3: models[1].path: missing");
  EXPECT_HAS(error_of(kModel + "[[datasets]]\nlimit = 5\n"), "datasets[0].path: missing");
  EXPECT_HAS(error_of("[[models]]\npath = \"\"\nname = \"x\"\n" + kDataset),
             "models[0].path: is empty");
  EXPECT_HAS(error_of(kModel + "name = \"\"\n" + kDataset), "models[0].name: is empty");
}

TEST(ConfigErrors, BadSizesAndRanges) {
  EXPECT_HAS(error_of(kModel + "host_memory = \"8XB\"\n" + kDataset),
             "models[0].host_memory: invalid size '8XB'");
  EXPECT_HAS(error_of(kModel + "device_memory = \"0\"\n" + kDataset),
             "models[0].device_memory: must be positive");
  EXPECT_HAS(error_of(kModel + "device_memory = -5\n" + kDataset),
             "models[0].device_memory: must be positive");
  EXPECT_HAS(error_of(kModel + "host_memory = true\n" + kDataset),
             "models[0].host_memory: expected a size");
  EXPECT_HAS(error_of(kModel + "ctx = 0\n" + kDataset), "models[0].ctx: must be between 1 and");
  EXPECT_HAS(error_of(kModel + "ctx = 99999999999\n" + kDataset), "models[0].ctx: must be between");
  EXPECT_HAS(error_of(kModel + "threads = -1\n" + kDataset),
             "models[0].threads: must be between 0");
  EXPECT_HAS(error_of(kModel + kDataset + "limit = 0\n"),
             "datasets[0].limit: must be at least 1, got 0");
  EXPECT_HAS(error_of(kModel + kDataset + "seed = -3\n"), "datasets[0].seed: must be at least 0");
  EXPECT_HAS(error_of(kModel + kDataset + "[decoding]\nmax_tokens = 0\n"),
             "decoding.max_tokens: must be between 1 and");
  EXPECT_HAS(error_of(kModel + kDataset + "[decoding]\ntemperature = -0.5\n"),
             "decoding.temperature: must be a finite number >= 0");
  EXPECT_HAS(error_of(kModel + kDataset + "[decoding]\ntemperature = inf\n"),
             "decoding.temperature: must be a finite number >= 0");
  EXPECT_HAS(error_of(kModel + kDataset + "[decoding]\nparallel = 257\n"),
             "decoding.parallel: must be between 1 and 256, got 257");
  EXPECT_HAS(error_of(kModel + kDataset + "[decoding]\nparallel = 0\n"),
             "decoding.parallel: must be between 1 and 256, got 0");
  EXPECT_HAS(error_of(kModel + kDataset + "[decoding]\nparallel = \"fast\"\n"),
             "decoding.parallel: must be \"auto\" or an integer between 1 and 256");
  EXPECT_HAS(error_of(kModel + kDataset + "[decoding]\nkv = \"pooled\"\n"),
             "decoding.kv: unknown KV layout 'pooled' (expected auto, split or unified)");
  EXPECT_HAS(error_of(kModel + kDataset + "[decoding]\nkv = 1\n"),
             "decoding.kv: expected a string");
  EXPECT_HAS(error_of(kModel + kDataset + "[decoding]\nloglik_batch = 0\n"),
             "decoding.loglik_batch: must be between 1 and 256, got 0");
  EXPECT_HAS(error_of(kModel + kDataset + "[decoding]\nloglik_batch = \"all\"\n"),
             "decoding.loglik_batch:");
}

// kv: auto (the default), split or unified; a flag overrides the file; the run's config records it.
TEST(ConfigParse, KvLayoutValues) {
  auto d = parse(kModel + kDataset);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->decoding.kv, KvLayout::kAuto);
  for (const char* k : {"auto", "split", "unified"}) {
    auto c = parse(kModel + kDataset + "[decoding]\nkv = \"" + k + "\"\n");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_STREQ(to_string(c->decoding.kv), k);
    EXPECT_EQ(to_json(*c)["decoding"]["kv"], k);
  }
  EXPECT_EQ(kv_layout_from_string("Split"), std::nullopt);
  EXPECT_EQ(kv_layout_from_string(""), std::nullopt);
}

// --parallel on the command line: the same values, and an error naming the flag otherwise.
TEST(ConfigParse, ParallelFlagValues) {
  EXPECT_EQ(parse_parallel("--parallel", "auto").value(), kParallelAuto);
  EXPECT_EQ(parse_parallel("--parallel", "1").value(), 1);
  EXPECT_EQ(parse_parallel("--parallel", "256").value(), 256);
  for (const char* bad : {"0", "257", "-3", "4x", "", "many"}) {
    auto r = parse_parallel("--parallel", bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().message,
              std::string("--parallel: '") + bad + "' is not auto or an integer between 1 and 256");
  }
}

// parallel: "auto" (the default, planned) or a fixed number of conversations up to 256.
TEST(ConfigParse, ParallelIsAutoOrANumber) {
  auto d = parse(kModel + kDataset);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->decoding.parallel, kParallelAuto);
  EXPECT_EQ(to_json(*d)["decoding"]["parallel"], "auto");
  auto a = parse(kModel + kDataset + "[decoding]\nparallel = \"auto\"\n");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->decoding.parallel, kParallelAuto);
  auto n = parse(kModel + kDataset + "[decoding]\nparallel = 256\n");
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->decoding.parallel, 256);
  EXPECT_EQ(to_json(*n)["decoding"]["parallel"], 256);
}

// thinking: per run ([decoding]) and per model; reasoning_budget: tokens or "unlimited".
TEST(ConfigParse, ThinkingAndReasoningBudget) {
  auto d = parse(kModel + kDataset);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->decoding.thinking, Thinking::kAuto);
  EXPECT_EQ(d->decoding.reasoning_budget, kDefaultReasoningBudget);
  EXPECT_FALSE(d->models[0].thinking);
  auto c = parse(kModel + "thinking = \"off\"\n" + kDataset +
                 "[decoding]\nthinking = \"on\"\nreasoning_budget = \"unlimited\"\n");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->decoding.thinking, Thinking::kOn);
  EXPECT_EQ(c->models[0].thinking, Thinking::kOff);
  EXPECT_EQ(c->decoding.reasoning_budget, kUnlimitedReasoning);
  const auto j = to_json(*c);
  EXPECT_EQ(j["decoding"]["thinking"], "on");
  EXPECT_EQ(j["decoding"]["reasoning_budget"], "unlimited");
  EXPECT_EQ(j["models"][0]["thinking"], "off");
  auto n = parse(kModel + kDataset + "[decoding]\nreasoning_budget = 0\n");
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->decoding.reasoning_budget, 0);

  EXPECT_HAS(error_of(kModel + "thinking = \"maybe\"\n" + kDataset),
             "models[0].thinking: unknown value 'maybe' (expected auto, on or off)");
  EXPECT_HAS(error_of(kModel + kDataset + "[decoding]\nthinking = true\n"), "decoding.thinking");
  EXPECT_HAS(error_of(kModel + kDataset + "[decoding]\nreasoning_budget = -5\n"),
             "decoding.reasoning_budget");
  EXPECT_HAS(error_of(kModel + kDataset + "[decoding]\nreasoning_budget = \"lots\"\n"),
             "decoding.reasoning_budget: must be \"unlimited\" or a number of tokens");
}

TEST(ConfigParse, KvFlagOverridesTheFileAndNamesABadValue) {
  RunFlags f;
  f.model = "m.gguf";
  f.dataset = "d.jsonl";
  EXPECT_EQ(run_config_from_flags(f)->decoding.kv, KvLayout::kAuto);
  f.kv = "unified";
  EXPECT_EQ(run_config_from_flags(f)->decoding.kv, KvLayout::kUnified);
  f.kv = "pooled";
  auto bad = run_config_from_flags(f);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().message, "--kv: unknown value 'pooled' (expected auto, split or unified)");
}

TEST(ConfigParse, ThreadsFlagOverridesEveryModelLoadedHere) {
  RunFlags f;
  f.model = "m.gguf";
  f.dataset = "d.jsonl";
  EXPECT_EQ(run_config_from_flags(f)->models.at(0).threads, 0);  // all cores
  f.threads = 3;
  EXPECT_EQ(run_config_from_flags(f)->models.at(0).threads, 3);
  // A served model has no threads of ours: the flag leaves it alone.
  f.model.clear();
  f.base_url = "http://127.0.0.1:8080/v1";
  auto served = run_config_from_flags(f);
  ASSERT_TRUE(served) << served.error().message;
  EXPECT_EQ(served->models.at(0).threads, 0);
}

TEST(ConfigParse, ThinkingFlagsOverrideEveryModel) {
  RunFlags f;
  f.model = "m.gguf";
  f.dataset = "d.jsonl";
  f.thinking = "off";
  f.reasoning_budget = "256";
  auto c = run_config_from_flags(f);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->decoding.thinking, Thinking::kOff);
  EXPECT_EQ(c->decoding.reasoning_budget, 256);
  f.reasoning_budget = "unlimited";
  EXPECT_EQ(run_config_from_flags(f)->decoding.reasoning_budget, kUnlimitedReasoning);
  f.thinking = "sometimes";
  auto bad = run_config_from_flags(f);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            "--thinking: unknown value 'sometimes' (expected auto, on or off)");
  f.thinking = "on";
  f.reasoning_budget = "-1";
  bad = run_config_from_flags(f);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            "--reasoning-budget: '-1' is not unlimited or a number of tokens (0 or more)");
}

TEST(ConfigErrors, BadEnumsListTheChoices) {
  const std::string s = error_of(kModel + "strategy = \"fast\"\n" + kDataset);
  EXPECT_HAS(s, "models[0].strategy: unknown strategy 'fast'");
  EXPECT_HAS(s, "quantize:q4");
  EXPECT_HAS(error_of(kModel + kDataset + "format = \"parquet\"\n"),
             "datasets[0].format: unknown format 'parquet'");
  EXPECT_HAS(error_of(kModel + kDataset + "[decoding]\nscoring = \"logprob\"\n"),
             "decoding.scoring: unknown scoring 'logprob' (expected generate or "
             "loglik)");
  EXPECT_HAS(error_of("shard = \"3/3\"\n" + kModel + kDataset), "shard: invalid shard '3/3'");
}

TEST(ConfigErrors, DuplicateNames) {
  // Same stem from different directories: the default names collide.
  const std::string m =
      error_of("[[models]]\npath = \"a/m.gguf\"\n[[models]]\npath = \"b/m.gguf\"\n" + kDataset);
  EXPECT_HAS(m, "models[1].name: duplicate model name 'm' (models[0] has it too");
  EXPECT_HAS(error_of(kModel + "[[datasets]]\nname = \"x\"\npath = \"a.jsonl\"\n"
                               "[[datasets]]\nname = \"x\"\npath = \"b.jsonl\"\n"),
             "datasets[1].name: duplicate dataset name 'x'");
  // The same name for a model and a dataset is fine.
  EXPECT_TRUE(
      parse("[[models]]\nname = \"x\"\npath = \"a.gguf\"\n"
            "[[datasets]]\nname = \"x\"\npath = \"a.jsonl\"\n"));
}

TEST(ConfigErrors, NoModelsOrNoDatasets) {
  EXPECT_HAS(error_of(kDataset), "conf/run.toml: no models");
  EXPECT_HAS(error_of(kModel), "conf/run.toml: no datasets");
  EXPECT_HAS(error_of("models = []\n" + kDataset), "models: no models");
  const std::string both = error_of("out = \"x\"\n");
  EXPECT_HAS(both, "no models");
  EXPECT_HAS(both, "no datasets");
  EXPECT_HAS(error_of("", ErrorCode::kInvalidArgument), "no models");
}

TEST(ConfigErrors, EveryProblemIsReportedOnItsOwnLine) {
  const std::string m = error_of(kModel + "ctx = \"x\"\nbogus = 1\n" + kDataset + "limit = 0\n");
  EXPECT_HAS(m, "models[0].ctx");
  EXPECT_HAS(m, "models[0].bogus");
  EXPECT_HAS(m, "datasets[0].limit");
  EXPECT_EQ(std::count(m.begin(), m.end(), '\n'), 2) << m;
}

TEST(ConfigFile, ResolvesPathsAgainstTheFilesDirectory) {
  testing::ScratchDir dir;
  fs::create_directories(dir.file("sub"));
  testing::write_file(dir.file("sub/run.toml"), "out = \"../runs/a\"\n" + kModel + kDataset);
  auto r = read_run_config(dir.file("sub/run.toml"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->models[0].path, (fs::path(dir.path()) / "sub" / "m.gguf").string());
  EXPECT_EQ(r->datasets[0].path, (fs::path(dir.path()) / "sub" / "d.jsonl").string());
  EXPECT_EQ(r->out, (fs::path(dir.path()) / "runs" / "a").string());
}

TEST(ConfigFile, MissingFileOrDirectory) {
  testing::ScratchDir dir;
  auto missing = read_run_config(dir.file("nope.toml"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_HAS(missing.error().message, "nope.toml");
  auto directory = read_run_config(dir.path());
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.error().code, ErrorCode::kIo);
}

TEST(ConfigFile, ErrorsNameTheFileAsGiven) {
  testing::ScratchDir dir;
  testing::write_file(dir.file("bad.toml"), kModel + "ctx = -1\n" + kDataset);
  auto r = read_run_config(dir.file("bad.toml"));
  ASSERT_FALSE(r);
  EXPECT_HAS(r.error().message, dir.file("bad.toml") + ":3: models[0].ctx");
}

TEST(ConfigFile, TheExampleInTheRepositoryParses) {
  auto r = read_run_config(fs::path(CLINBENCH_SOURCE_DIR) / "examples" / "run.toml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->models.empty());
  EXPECT_FALSE(r->datasets.empty());
}

}  // namespace
}  // namespace clinbench
