// Config keys of models served over HTTP (backend = "openai"): parsed, defaulted, recorded
// without the key's value, and every wrong key or value named.
#include <gtest/gtest.h>

#include "clinbench/config.h"

namespace clinbench {
namespace {

Result<RunConfig> parse(const std::string& models) {
  return parse_run_config(models + "\n[[datasets]]\npath = \"d.jsonl\"\n", "run.toml");
}

void expect_error(const std::string& models, const std::string& what) {
  auto r = parse(models);
  ASSERT_FALSE(r) << models;
  EXPECT_NE(r.error().message.find(what), std::string::npos)
      << "message: " << r.error().message << "\nexpected: " << what;
}

TEST(ConfigRemote, KeysAndDefaults) {
  auto r = parse(R"([[models]]
backend = "openai"
base_url = "http://127.0.0.1:8080/v1"
api_model = "llama-3-8b"
api_key_env = "MY_KEY"
in_flight = 8
timeout = 30
retries = 2
retry_backoff = 0.25
[[models]]
name = "second"
backend = "openai"
base_url = "https://api.example.com/v1"
ca_cert = "certs/hospital-ca.pem")");
  ASSERT_TRUE(r) << r.error().message;
  const ModelConfig& m = r->models[0];
  EXPECT_TRUE(m.remote());
  EXPECT_EQ(m.name, "llama-3-8b");  // defaults to api_model
  EXPECT_EQ(m.base_url, "http://127.0.0.1:8080/v1");
  EXPECT_EQ(m.api_key_env, "MY_KEY");
  EXPECT_EQ(m.in_flight, 8);
  EXPECT_EQ(m.timeout_s, 30);
  EXPECT_EQ(m.retries, 2);
  EXPECT_EQ(m.retry_backoff_s, 0.25);
  EXPECT_EQ(m.strategy, "remote");
  const ModelConfig& d = r->models[1];
  EXPECT_EQ(d.api_model, "");
  EXPECT_EQ(d.in_flight, ModelConfig{}.in_flight);
  EXPECT_EQ(d.timeout_s, ModelConfig{}.timeout_s);
  EXPECT_EQ(d.retries, ModelConfig{}.retries);
  EXPECT_EQ(m.ca_cert, "");
  EXPECT_EQ(d.ca_cert, "certs/hospital-ca.pem");  // relative to the config file's folder
  auto j = to_json(*r);
  EXPECT_EQ(j["models"][0]["backend"], "openai");
  EXPECT_EQ(j["models"][0]["api_key_env"], "MY_KEY");
  EXPECT_EQ(j["models"][0]["in_flight"], 8);
  EXPECT_FALSE(j["models"][0].contains("ca_cert"));
  EXPECT_EQ(j["models"][1]["ca_cert"], "certs/hospital-ca.pem");
  EXPECT_FALSE(r->models.empty() || !r->models[0].path.empty());
}

TEST(ConfigRemote, LlamaModelsAreUnchanged) {
  auto r = parse("[[models]]\npath = \"m.gguf\"\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->models[0].remote());
  EXPECT_FALSE(to_json(*r)["models"][0].contains("backend"));
}

TEST(ConfigRemote, ErrorsNameTheKey) {
  expect_error("[[models]]\nbackend = \"vllm\"\nbase_url = \"http://h/v1\"\nname = \"x\"",
               "models[0].backend: unknown backend 'vllm' (expected llama or openai)");
  expect_error("[[models]]\nbackend = \"openai\"\nname = \"x\"", "models[0].base_url: missing");
  expect_error("[[models]]\nbackend = \"openai\"\nbase_url = \"h:8080/v1\"\nname = \"x\"",
               "models[0].base_url: 'h:8080/v1' is not an http:// or https:// URL");
  expect_error("[[models]]\nbackend = \"openai\"\nbase_url = \"http://h/v1\"",
               "models[0].name: missing (a remote model needs a name or an api_model)");
  expect_error(
      "[[models]]\nbackend = \"openai\"\nbase_url = \"http://h/v1\"\nname = \"x\"\n"
      "in_flight = 0",
      "models[0].in_flight: must be between 1 and 1024, got 0");
  expect_error(
      "[[models]]\nbackend = \"openai\"\nbase_url = \"http://h/v1\"\nname = \"x\"\n"
      "timeout = 0",
      "models[0].timeout: must be more than 0 seconds");
  expect_error(
      "[[models]]\nbackend = \"openai\"\nbase_url = \"http://h/v1\"\nname = \"x\"\n"
      "retries = \"3\"",
      "models[0].retries: expected an integer, got a string");
  expect_error(
      "[[models]]\nbackend = \"openai\"\nbase_url = \"http://h/v1\"\nname = \"x\"\n"
      "api_key_env = \"\"",
      "models[0].api_key_env: is empty");
  expect_error(
      "[[models]]\nbackend = \"openai\"\nbase_url = \"http://h/v1\"\nname = \"x\"\n"
      "ctx = 2048",
      "models[0].ctx: only for backend = \"llama\"");
  expect_error(
      "[[models]]\nbackend = \"openai\"\nbase_url = \"https://h/v1\"\nname = \"x\"\n"
      "ca_cert = \"\"",
      "models[0].ca_cert: is empty");
  expect_error(
      "[[models]]\nbackend = \"openai\"\nbase_url = \"http://h/v1\"\nname = \"x\"\n"
      "ca_cert = \"ca.pem\"",
      "models[0].ca_cert: applies to an https:// base_url only");
  expect_error("[[models]]\npath = \"m.gguf\"\nca_cert = \"ca.pem\"",
               "models[0].ca_cert: only for backend = \"openai\"");
  expect_error("[[models]]\npath = \"m.gguf\"\nbase_url = \"http://h/v1\"",
               "models[0].base_url: only for backend = \"openai\"");
  expect_error("[[models]]\npath = \"m.gguf\"\nstrategy = \"remote\"",
               "models[0].strategy: unknown strategy 'remote'");
  expect_error(
      "[[models]]\nbackend = \"openai\"\nbase_url = \"http://h/v1\"\nname = \"x\"\n"
      "api_kye_env = \"K\"",
      "models[0].api_kye_env: unknown key");
}

}  // namespace
}  // namespace clinbench
