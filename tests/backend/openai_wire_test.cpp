// The OpenAI chat API on the wire: streamed and plain answers, every malformed answer an error
// naming what was wrong; the model list; base URLs; Retry-After and backoff.
#include "backend/openai_wire.h"

#include <gtest/gtest.h>

#include <random>

#include "backend/http_client.h"

namespace clinbench {
namespace {

std::string sse(const std::vector<std::string>& chunks, bool done = true) {
  std::string s;
  for (const auto& c : chunks) s += "data: " + c + "\n\n";
  if (done) s += "data: [DONE]\n\n";
  return s;
}

const char* kFirst =
    R"({"choices":[{"index":0,"delta":{"role":"assistant","content":null},"finish_reason":null}],"model":"m"})";
const char* kText =
    R"({"choices":[{"index":0,"delta":{"content":"Answer: B"},"finish_reason":null}]})";
const char* kStop = R"({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})";
const char* kUsage = R"({"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3}})";

Result<ChatReply> parse(const std::string& body, size_t piece = 7) {
  ChatStreamParser p;
  for (size_t i = 0; i < body.size(); i += piece) {
    if (!p.feed(std::string_view(body).substr(i, piece))) break;
  }
  return p.finish();
}

TEST(OpenAIWire, StreamedAnswerInPiecesOfAnySize) {
  const std::string body = sse({kFirst, kText, kStop, kUsage});
  for (size_t piece : {1, 3, 64, 4096}) {
    auto r = parse(body, piece);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->text, "Answer: B");
    EXPECT_EQ(r->finish_reason, "stop");
    EXPECT_EQ(r->prompt_tokens, 12);
    EXPECT_EQ(r->completion_tokens, 3);
    EXPECT_EQ(r->model, "m");
  }
}

TEST(OpenAIWire, FirstTokenIsTheFirstText) {
  ChatStreamParser p;
  ASSERT_TRUE(p.feed(sse({kFirst}, false)));
  EXPECT_FALSE(p.first_token_seen());
  ASSERT_TRUE(p.feed(sse({kText}, false)));
  EXPECT_TRUE(p.first_token_seen());
}

TEST(OpenAIWire, ReasoningContentKeptApartFromTheReply) {
  const std::string think =
      R"({"choices":[{"index":0,"delta":{"reasoning_content":"hmm"},"finish_reason":null}]})";
  auto r = parse(sse({think, kText, kStop, kUsage}));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->text, "Answer: B");
  EXPECT_EQ(r->reasoning, "hmm");
  EXPECT_FALSE(r->reasoning_tokens);
}

TEST(OpenAIWire, ReasoningTokensFromTheUsageDetails) {
  auto r = parse(R"({"choices":[{"index":0,"message":{"role":"assistant","content":"B",
    "reasoning_content":"think"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,
    "completion_tokens":9,"completion_tokens_details":{"reasoning_tokens":7}}})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->reasoning, "think");
  EXPECT_EQ(r->reasoning_tokens, 7);
  auto bad = parse(R"({"choices":[{"index":0,"message":{"role":"assistant","content":"B"},
    "finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":9,
    "completion_tokens_details":{"reasoning_tokens":"many"}}})");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("reasoning_tokens"), std::string::npos) << bad.error().message;
}

TEST(OpenAIWire, ThinkingIsAskedForOnlyWhenSet) {
  GenerationParams p;
  p.max_tokens = 100;
  p.reasoning_budget = 50;
  auto j = chat_request_json("m", {{"user", "q"}}, p);
  EXPECT_EQ(j["max_tokens"], 100);  // the server's default; its budget is max_tokens alone
  EXPECT_FALSE(j.contains("chat_template_kwargs"));
  p.thinking = Thinking::kOn;
  j = chat_request_json("m", {{"user", "q"}}, p);
  EXPECT_EQ(j["max_tokens"], 150);  // thinking asked for: the budget is added
  EXPECT_EQ(j["chat_template_kwargs"]["enable_thinking"], true);
  EXPECT_EQ(j["reasoning_budget_tokens"], 50);
  p.thinking = Thinking::kOff;
  j = chat_request_json("m", {{"user", "q"}, {"assistant", "B", "because"}}, p);
  EXPECT_EQ(j["chat_template_kwargs"]["enable_thinking"], false);
  EXPECT_EQ(j["max_tokens"], 100);
  EXPECT_FALSE(j.contains("reasoning_budget_tokens"));
  EXPECT_EQ(j["messages"][1]["reasoning_content"], "because");
}

TEST(OpenAIWire, PlainJsonAnswer) {
  auto r = parse(R"({"model":"m","choices":[{"index":0,"message":{"role":"assistant",
    "content":"A."},"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":9}})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->text, "A.");
  EXPECT_EQ(r->finish_reason, "length");
  EXPECT_EQ(r->completion_tokens, 9);
}

void expect_error(const std::string& body, const std::string& what) {
  auto r = parse(body);
  ASSERT_FALSE(r) << "accepted: " << body;
  EXPECT_NE(r.error().message.find(what), std::string::npos)
      << "message: " << r.error().message << "\nexpected to contain: " << what;
  EXPECT_NE(r.error().message.find("malformed answer"), std::string::npos);
}

TEST(OpenAIWire, MalformedAnswersNameWhatWasWrong) {
  expect_error("", "empty body");
  expect_error("<html>Bad gateway</html>", "not JSON: <html>Bad gateway</html>");
  expect_error(sse({"{not json"}), "chunk 1: not JSON: {not json");
  expect_error(sse({"[1,2]"}), "chunk 1: expected a JSON object, got an array");
  expect_error(sse({R"({"id":"x"})"}), "chunk 1: no \"choices\"");
  expect_error(sse({R"({"choices":{}})"}), "chunk 1.choices: expected an array, got an object");
  expect_error(sse({R"({"choices":[{"index":0}]})"}), "chunk 1.choices[0]: no \"delta\"");
  expect_error(sse({R"({"choices":[{"index":0,"delta":{"content":7}}]})"}),
               "chunk 1.choices[0].delta.content: expected a string, got an integer");
  expect_error(sse({kText, R"({"choices":[{"index":0,"delta":{},"finish_reason":1}]})"}),
               "chunk 2.choices[0].finish_reason: expected a string, got an integer");
  expect_error(sse({kText, kStop, R"({"choices":[],"usage":{"prompt_tokens":"12"}})"}),
               "chunk 3.usage.prompt_tokens: expected a non-negative integer, got a string");
  expect_error(sse({kText, kStop, R"({"choices":[],"usage":{"prompt_tokens":1}})"}),
               "chunk 3.usage: no \"completion_tokens\"");
  expect_error(sse({kText, kStop}), "no usage");
  expect_error(sse({kText, kUsage}), "no finish_reason");
  expect_error(sse({kText, kStop, kUsage}, false), "ended without data: [DONE]");
  expect_error(sse({R"({"error":{"message":"context full","code":400}})"}),
               "the server reported an error: context full");
  expect_error(R"({"model":"m","choices":[{"index":0,"message":"hi","finish_reason":"stop"}]})",
               "answer.choices[0].message: expected an object, got a string");
}

TEST(OpenAIWire, RequestBody) {
  GenerationParams p;
  p.max_tokens = 33;
  auto j = chat_request_json("m", {{"system", "s"}, {"user", "u"}}, p);
  EXPECT_EQ(j["model"], "m");
  EXPECT_EQ(j["messages"].size(), 2u);
  EXPECT_EQ(j["messages"][1]["content"], "u");
  EXPECT_EQ(j["max_tokens"], 33);
  EXPECT_EQ(j["temperature"], 0.0);
  EXPECT_EQ(j["stream"], true);
  EXPECT_EQ(j["stream_options"]["include_usage"], true);
}

TEST(OpenAIWire, ModelList) {
  auto ids = parse_models_response(R"({"object":"list","data":[{"id":"a"},{"id":"b"}]})");
  ASSERT_TRUE(ids) << ids.error().message;
  EXPECT_EQ(*ids, (std::vector<std::string>{"a", "b"}));
  for (auto [body, what] : std::vector<std::pair<std::string, std::string>>{
           {"nope", "not JSON"},
           {"[]", "expected a JSON object, got an array"},
           {"{}", "no \"data\""},
           {R"({"data":{}})", "data: expected an array, got an object"},
           {R"({"data":[{"id":1}]})", "data[0]: expected an object with a string \"id\""},
           {R"({"data":[]})", "serves no model"}}) {
    auto r = parse_models_response(body);
    ASSERT_FALSE(r) << body;
    EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
  }
}

TEST(HttpClientUnit, BaseUrl) {
  auto b = parse_base_url("http://127.0.0.1:8080/v1/");
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->origin, "http://127.0.0.1:8080");
  EXPECT_EQ(b->prefix, "/v1");
  auto root = parse_base_url("https://api.example.com");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->prefix, "");
  for (const char* bad : {"127.0.0.1:8080/v1", "ftp://h/v1", "http:///v1", "http://h/v1?x=1"}) {
    auto r = parse_base_url(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
  }
}

TEST(HttpClientUnit, RetryAfter) {
  const std::time_t now = 1445412480;  // Wed, 21 Oct 2015 07:28:00 GMT
  EXPECT_EQ(parse_retry_after("3", now), 3.0);
  EXPECT_EQ(parse_retry_after(" 120 ", now), 120.0);
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now), 10.0);
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now), 0.0);  // past
  EXPECT_FALSE(parse_retry_after("", now));
  EXPECT_FALSE(parse_retry_after("-1", now));
  EXPECT_FALSE(parse_retry_after("soon", now));
}

TEST(HttpClientUnit, BackoffDoublesWithJitterAndCap) {
  RetryPolicy p;
  p.initial_s = 0.5;
  p.max_s = 4;
  std::mt19937_64 rng(1);
  for (int retry = 0; retry < 8; ++retry) {
    const double d = std::min(4.0, 0.5 * (1 << retry));
    for (int k = 0; k < 50; ++k) {
      const double got = backoff_delay_s(p, retry, rng);
      EXPECT_GE(got, d / 2);
      EXPECT_LE(got, d);
    }
  }
}

}  // namespace
}  // namespace clinbench
