// Reasoning models: the thinking switch rendered by real templates (Qwen3, DeepSeek-R1, gpt-oss,
// SmolLM3, Granite, Llama 3.1 from llama.cpp's models/templates), replies split into reasoning
// and answer by llama.cpp's own chat parser, the reasoning budget enforced by its sampler, and a
// reply cut while thinking left without an answer.
#include <gtest/gtest.h>
#include <llama.h>

#include <random>

#include "backend/llama_backend.h"
#include "backend/scheduler.h"
#include "clinbench/evaluate.h"
#include "model/backend_init.h"
#include "model/llama_chat.h"
#include "test_util.h"

namespace clinbench {
namespace {

std::string template_text(const std::string& name) {
  return testing::read_file(std::string(CLINBENCH_SOURCE_DIR) + "/tests/data/templates/" + name +
                            ".jinja");
}

struct ModelDeleter {
  void operator()(llama_model* m) const { llama_model_free(m); }
};
using ModelPtr = std::unique_ptr<llama_model, ModelDeleter>;

// The tokenizer of the shared model: the templates only need one to render.
ModelPtr vocab_model() {
  ensure_llama_backend();
  llama_model_params mp = llama_model_default_params();
  mp.vocab_only = true;
  return ModelPtr(llama_model_load_from_file(testing::stories_model().c_str(), mp));
}

const std::vector<ChatMessage> kQuestion = {
    {"system", "You are a careful clinical expert."},
    {"user", "Which drug prolongs the QT interval?\n\nA. Ondansetron\nB. Aspirin\nAnswer: X"}};

ChatPrompt render(const LlamaChat& chat, Thinking t) {
  auto p = chat.render_for_reply(kQuestion, t);
  EXPECT_TRUE(p) << p.error().message;
  return p ? *p : ChatPrompt{};
}

TEST(RunReasoning, Qwen3ThinksUnlessSwitchedOff) {
  ModelPtr m = vocab_model();
  ASSERT_TRUE(m);
  LlamaChat chat(m.get(), template_text("Qwen-Qwen3-0.6B"));
  EXPECT_TRUE(chat.has_thinking_switch());
  const ChatPrompt on = render(chat, Thinking::kAuto), off = render(chat, Thinking::kOff);
  EXPECT_EQ(on.text, render(chat, Thinking::kOn).text);  // the template's default is thinking
  EXPECT_NE(on.text, off.text);
  EXPECT_NE(off.text.find("<think>\n\n</think>"), std::string::npos) << off.text;
  EXPECT_TRUE(on.reply.thinks);
  EXPECT_FALSE(off.reply.thinks);
  EXPECT_EQ(on.reply.thinking_start, "<think>");

  ParsedReply p =
      parse_reply(on.reply, "<think>\nThe answer may be A... no.\n</think>\n\nAnswer: B");
  EXPECT_TRUE(p.opened);
  EXPECT_TRUE(p.closed);
  EXPECT_EQ(p.content, "Answer: B");
  EXPECT_NE(p.reasoning.find("The answer may be A"), std::string::npos) << p.reasoning;
  EXPECT_EQ(p.content.find("may be A"), std::string::npos);

  // Cut while thinking: no answer, whatever the reasoning says.
  p = parse_reply(on.reply, "<think>\nthe answer is B... wait, let me reconsider");
  EXPECT_TRUE(p.opened);
  EXPECT_FALSE(p.closed);
  EXPECT_EQ(p.content, "");
  EXPECT_NE(p.reasoning.find("the answer is B"), std::string::npos);

  // Thinking off: the reply is all answer.
  p = parse_reply(off.reply, "Answer: A");
  EXPECT_FALSE(p.opened);
  EXPECT_EQ(p.content, "Answer: A");
}

TEST(RunReasoning, DeepSeekR1OpensThinkingInThePrompt) {
  ModelPtr m = vocab_model();
  ASSERT_TRUE(m);
  LlamaChat chat(m.get(), template_text("deepseek-ai-DeepSeek-R1-Distill-Llama-8B"));
  const ChatPrompt on = render(chat, Thinking::kAuto);
  ASSERT_TRUE(on.reply.thinks);
  EXPECT_NE(on.reply.parser.generation_prompt.find("<think>"), std::string::npos);
  // The reply starts inside the thinking section the prompt opened.
  ParsedReply p = parse_reply(on.reply, "Ondansetron blocks 5-HT3.\n</think>\n\nAnswer: A");
  EXPECT_TRUE(p.opened);
  EXPECT_TRUE(p.closed);
  EXPECT_EQ(p.begin, 0u);
  EXPECT_NE(p.reasoning.find("5-HT3"), std::string::npos) << p.reasoning;
  EXPECT_EQ(p.content, "Answer: A");
  p = parse_reply(on.reply, "Ondansetron blocks 5-HT3, so the answer is A");
  EXPECT_FALSE(p.closed);
  EXPECT_EQ(p.content, "");
}

TEST(RunReasoning, GptOssChannelsAreSplit) {
  ModelPtr m = vocab_model();
  ASSERT_TRUE(m);
  LlamaChat chat(m.get(), template_text("openai-gpt-oss-120b"));
  const ChatPrompt on = render(chat, Thinking::kAuto);
  ASSERT_TRUE(on.reply.thinks);
  ParsedReply p = parse_reply(on.reply,
                              "<|channel|>analysis<|message|>QT: ondansetron. So A.<|end|>"
                              "<|start|>assistant<|channel|>final<|message|>Answer: A");
  EXPECT_TRUE(p.closed);
  EXPECT_EQ(p.content, "Answer: A");
  EXPECT_NE(p.reasoning.find("QT: ondansetron"), std::string::npos) << p.reasoning;
  p = parse_reply(on.reply, "<|channel|>analysis<|message|>QT: ondansetron. So A");
  EXPECT_TRUE(p.opened);
  EXPECT_FALSE(p.closed);
  EXPECT_EQ(p.content, "");
}

TEST(RunReasoning, TemplatesWithoutThinkingReadAsPlainText) {
  ModelPtr m = vocab_model();
  ASSERT_TRUE(m);
  LlamaChat chat(m.get(), template_text("meta-llama-Llama-3.1-8B-Instruct"));
  const ChatPrompt p = render(chat, Thinking::kAuto);
  EXPECT_FALSE(p.reply.thinks);
  EXPECT_TRUE(p.reply.plain());
  EXPECT_FALSE(chat.has_thinking_switch());
  // And the shared model's own (none: chatml).
  LlamaChat own(m.get());
  EXPECT_TRUE(render(own, Thinking::kOn).reply.plain());
}

TEST(RunReasoning, SmolLM3AndGraniteRenderTheirSwitch) {
  ModelPtr m = vocab_model();
  ASSERT_TRUE(m);
  // SmolLM3 switches on enable_thinking, Granite on a `thinking` variable of its own.
  // (Granite's only where the conversation has no system prompt: its switch is in its default.)
  const std::vector<ChatMessage> user_only = {kQuestion[1]};
  for (const char* name : {"HuggingFaceTB-SmolLM3-3B", "ibm-granite-granite-3.3-2B-Instruct"}) {
    LlamaChat chat(m.get(), template_text(name));
    auto on = chat.render_for_reply(user_only, Thinking::kOn);
    auto off = chat.render_for_reply(user_only, Thinking::kOff);
    ASSERT_TRUE(on && off) << name;
    EXPECT_NE(on->text, off->text) << name;
  }
}

// Replies of any bytes, for every template: a split or none, never an exception or a crash.
TEST(RunReasoning, AnyBytesParse) {
  ModelPtr m = vocab_model();
  ASSERT_TRUE(m);
  std::mt19937 rng(7);
  const std::vector<std::string> parts = {
      "<think>", "</think>",  "<|channel|>", "analysis", "final", "<|message|>",
      "<|end|>", "<|start|>", "Answer: B",   "\xFF\xFE", "\n",    std::string(1, '\0')};
  for (const char* name : {"Qwen-Qwen3-0.6B", "deepseek-ai-DeepSeek-R1-Distill-Llama-8B",
                           "openai-gpt-oss-120b", "HuggingFaceTB-SmolLM3-3B"}) {
    LlamaChat chat(m.get(), template_text(name));
    const ChatPrompt p = render(chat, Thinking::kAuto);
    for (int i = 0; i < 300; ++i) {
      std::string raw;
      const int n = static_cast<int>(rng() % 12);
      for (int k = 0; k < n; ++k) {
        raw += rng() % 3 == 0 ? std::string(1, static_cast<char>(rng() % 256))
                              : parts[rng() % parts.size()];
      }
      ParsedReply r = parse_reply(p.reply, raw);
      EXPECT_LE(r.end, raw.size()) << name;
      if (r.opened && !r.closed) {
        EXPECT_EQ(r.content, "") << name;
      }
    }
  }
}

// A synthetic model with DeepSeek-R1's template never closes its thinking on its own (random
// weights): the budget sampler closes it after `reasoning_budget` tokens, and without a budget
// the reply is cut while thinking. Log-likelihood scoring closes the thinking first.
TEST(RunReasoning, BudgetClosesThinkingAndACutReplyHasNoAnswer) {
  testing::ScratchDir dir;
  testing::write_file(dir.file("r1.jinja"),
                      template_text("deepseek-ai-DeepSeek-R1-Distill-Llama-8B"));
  const std::string path = testing::synthetic_model(
      "llama", "f32",
      {"--layers", "2", "--embd", "64", "--ff", "128", "--heads", "4", "--kv-heads", "2", "--ctx",
       "1024", "--chat-template", dir.file("r1.jinja")});
  ensure_llama_backend();
  ModelPtr m(llama_model_load_from_file(path.c_str(), llama_model_default_params()));
  ASSERT_TRUE(m);
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 1024;
  cp.n_threads = 2;
  llama_context* ctx = llama_init_from_model(m.get(), cp);
  ASSERT_NE(ctx, nullptr);
  {
    auto backend = make_llama_backend(m.get(), ctx);
    GenerationParams gp;
    gp.max_tokens = 6;
    gp.reasoning_budget = 10;
    auto g = backend->generate(kQuestion, gp);
    ASSERT_TRUE(g) << g.error().message;
    EXPECT_TRUE(g->thinking);
    EXPECT_TRUE(g->reasoning_closed) << g->reasoning;
    // 10 thinking tokens, then the forced end tag (several tokens in this vocabulary).
    EXPECT_GT(g->reasoning_tokens, 10);
    EXPECT_LE(g->output_tokens, 6 + 10 + 16);
    EXPECT_EQ(g->text.find("</think>"), std::string::npos) << g->text;
    EXPECT_EQ(g->reasoning_budget, 10);

    // A budget larger than the context holds shrinks to what fits beside prompt and answer.
    gp.reasoning_budget = 100000;
    gp.max_tokens = 4;
    g = backend->generate(kQuestion, gp);
    ASSERT_TRUE(g) << g.error().message;
    EXPECT_GT(g->reasoning_budget, 0);
    EXPECT_LT(g->reasoning_budget, 1024);
    EXPECT_EQ(g->prompt_tokens + g->reasoning_budget + 4 + DecodeEngine::kAnswerReserve, 1024);
    EXPECT_TRUE(g->reasoning_closed) << "the forced end tag must fit";

    gp.reasoning_budget = kUnlimitedReasoning;
    gp.max_tokens = 12;
    g = backend->generate(kQuestion, gp);
    ASSERT_TRUE(g) << g.error().message;
    EXPECT_TRUE(g->thinking);
    EXPECT_FALSE(g->reasoning_closed);
    EXPECT_TRUE(g->truncated);
    EXPECT_EQ(g->reasoning_tokens, 12);
    EXPECT_EQ(g->text, "");

    // Log-likelihood scores the answer after the thinking the prompt opened, closed first.
    auto sc = backend->loglik(kQuestion, "Answer:", {{"A", " Ondansetron"}, {"B", " Aspirin"}});
    ASSERT_TRUE(sc) << sc.error().message;
    LlamaChat chat(m.get());
    auto rendered = chat.render(kQuestion);
    ASSERT_TRUE(rendered);
    EXPECT_EQ(sc->prompt_tokens,
              static_cast<int64_t>(chat.tokenize_prompt(*rendered + "</think>\n\nAnswer:").size()));

    // Through the protocol: no answer, rule truncated_in_reasoning, not scored.
    Item item;
    item.id = "qt";
    item.type = QuestionType::kMultiChoice;
    item.question = "Which drug prolongs the QT interval?";
    item.options = {{"A", "Ondansetron"}, {"B", "Aspirin"}};
    item.answer = "A";
    EvalSettings s;
    s.decoding.max_tokens = 12;
    s.decoding.reasoning_budget = kUnlimitedReasoning;
    ItemRecord r = evaluate_item(*backend, item, s, "m", "d");
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.extraction_rule, "truncated_in_reasoning");
    EXPECT_EQ(r.choice, "");
    EXPECT_TRUE(r.truncated);
    EXPECT_FALSE(r.correct.has_value());
    EXPECT_EQ(r.reasoning_tokens, 12);
    EXPECT_EQ(r.extra.value("reasoning_closed", true), false);
    EXPECT_NE(r.trace.find("reasoning_content"), std::string::npos) << r.trace;
  }
  llama_free(ctx);
}

}  // namespace
}  // namespace clinbench
