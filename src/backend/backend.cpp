// Backend's stream methods for backends that generate one conversation at a time, and the
// Thinking names.
#include "clinbench/backend.h"

#include <utility>

namespace clinbench {

namespace {

// Conversations given all at once; their results in the same order.
class VectorFeed final : public GenerationFeed {
 public:
  VectorFeed(const std::vector<std::vector<ChatMessage>>& conversations,
             const std::vector<GenerationParams>& params)
      : conversations_(conversations), params_(params) {
    out_.reserve(conversations.size());
    for (size_t i = 0; i < conversations.size(); ++i) {
      out_.emplace_back(make_error(ErrorCode::kInternal, "not generated"));
    }
  }
  std::optional<GenerationRequest> next() override {
    if (next_ == conversations_.size()) return std::nullopt;
    const size_t i = next_++;
    return GenerationRequest{i, conversations_[i], params_[i]};
  }
  void done(size_t id, Result<Generation> result) override { out_[id] = std::move(result); }
  std::vector<Result<Generation>> take() { return std::move(out_); }

 private:
  const std::vector<std::vector<ChatMessage>>& conversations_;
  const std::vector<GenerationParams>& params_;
  size_t next_ = 0;
  std::vector<Result<Generation>> out_;
};

}  // namespace

const char* to_string(Thinking t) {
  switch (t) {
    case Thinking::kAuto:
      return "auto";
    case Thinking::kOn:
      return "on";
    case Thinking::kOff:
      return "off";
  }
  return "auto";
}

std::optional<Thinking> thinking_from_string(const std::string& s) {
  if (s == "auto") return Thinking::kAuto;
  if (s == "on") return Thinking::kOn;
  if (s == "off") return Thinking::kOff;
  return std::nullopt;
}

void Backend::generate_stream(GenerationFeed& feed, int /*width*/) {
  while (auto req = feed.next()) feed.done(req->id, generate(req->messages, req->params));
}

std::vector<Result<Generation>> Backend::generate_many(
    const std::vector<std::vector<ChatMessage>>& conversations,
    const std::vector<GenerationParams>& params, int width) {
  VectorFeed feed(conversations, params);
  generate_stream(feed, width);
  return feed.take();
}

std::vector<Result<LoglikScores>> Backend::loglik_many(const std::vector<LoglikRequest>& requests,
                                                       int /*width*/) {
  std::vector<Result<LoglikScores>> out;
  out.reserve(requests.size());
  for (const auto& r : requests)
    out.push_back(loglik(r.messages, r.assistant_prefix, r.continuations));
  return out;
}

}  // namespace clinbench
