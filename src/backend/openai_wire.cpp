#include "backend/openai_wire.h"

#include <fmt/format.h>

namespace clinbench {

using nlohmann::json;

namespace {

const char* type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a number";
    default:
      return "something else";
  }
}

std::string excerpt(std::string_view s) {
  std::string out(s.substr(0, 200));
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s.size() > 200 ? out + "..." : out;
}

// A string member that may be absent or null; false (with *err set) when of another type.
bool optional_string(const json& obj, const char* key, const std::string& where, std::string* out,
                     std::string* err) {
  if (!obj.contains(key) || obj[key].is_null()) return true;
  if (!obj[key].is_string()) {
    *err = fmt::format("{}.{}: expected a string, got {}", where, key, type_name(obj[key]));
    return false;
  }
  *out = obj[key].get<std::string>();
  return true;
}

bool token_count(const json& usage, const char* key, const std::string& where,
                 std::optional<int64_t>* out, std::string* err) {
  if (!usage.contains(key)) {
    *err = fmt::format("{}: no \"{}\"", where, key);
    return false;
  }
  const json& v = usage[key];
  if (!v.is_number_integer() || v.get<int64_t>() < 0) {
    *err = fmt::format("{}.{}: expected a non-negative integer, got {}", where, key,
                       v.is_number_integer() ? std::to_string(v.get<int64_t>()) : type_name(v));
    return false;
  }
  *out = v.get<int64_t>();
  return true;
}

}  // namespace

json chat_request_json(const std::string& model, const std::vector<ChatMessage>& messages,
                       const GenerationParams& params) {
  json msgs = json::array();
  for (const auto& m : messages) {
    msgs.push_back({{"role", m.role}, {"content", m.content}});
    if (!m.reasoning.empty()) msgs.back()["reasoning_content"] = m.reasoning;
  }
  // The server does not say whether its model thinks: the turn gets the reasoning budget on top
  // of max_tokens when thinking is asked for (thinking = "on").
  int max_tokens = params.max_tokens;
  if (params.thinking == Thinking::kOn && params.reasoning_budget > 0) {
    max_tokens += params.reasoning_budget;
  }
  json j = {{"model", model},
            {"messages", std::move(msgs)},
            {"max_tokens", max_tokens},
            {"temperature", params.temperature},
            {"seed", params.seed},
            {"stream", true},
            {"stream_options", {{"include_usage", true}}}};
  // Asked for explicitly only: the template switch (llama-server, vLLM) and llama-server's budget.
  if (params.thinking != Thinking::kAuto) {
    j["chat_template_kwargs"] = {{"enable_thinking", params.thinking == Thinking::kOn}};
    if (params.thinking == Thinking::kOn && params.reasoning_budget >= 0) {
      j["reasoning_budget_tokens"] = params.reasoning_budget;
    }
  }
  return j;
}

void ChatStreamParser::reset() { *this = ChatStreamParser(); }

bool ChatStreamParser::feed(std::string_view data) {
  if (!error_.empty()) return false;
  if (raw_.size() < (1u << 20)) raw_.append(data.substr(0, (1u << 20) - raw_.size()));
  buffer_.append(data);
  size_t nl;
  while ((nl = buffer_.find('\n')) != std::string::npos) {
    std::string_view l(buffer_.data(), nl);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    const bool ok = line(l);
    buffer_.erase(0, nl + 1);
    if (!ok) return false;
  }
  return true;
}

bool ChatStreamParser::line(std::string_view l) {
  if (l.empty() || l.front() == ':') return true;  // event separator, comment
  if (l.rfind("data:", 0) != 0) {
    // "event:", "id:", "retry:" belong to SSE; anything else is not an event stream (a plain
    // JSON body, read whole by finish()).
    if (l.rfind("event:", 0) == 0 || l.rfind("id:", 0) == 0 || l.rfind("retry:", 0) == 0) {
      sse_ = true;
    }
    return true;
  }
  sse_ = true;
  l.remove_prefix(5);
  if (!l.empty() && l.front() == ' ') l.remove_prefix(1);
  if (done_) {
    error_ = "data after [DONE]";
    return false;
  }
  if (l == "[DONE]") {
    done_ = true;
    return true;
  }
  ++chunks_;
  json j = json::parse(l, nullptr, false);
  if (j.is_discarded()) {
    error_ = fmt::format("chunk {}: not JSON: {}", chunks_, excerpt(l));
    return false;
  }
  return chunk(j);
}

bool ChatStreamParser::chunk(const json& j) {
  const std::string where = sse_ ? fmt::format("chunk {}", chunks_) : std::string("answer");
  if (!j.is_object()) {
    error_ = fmt::format("{}: expected a JSON object, got {}", where, type_name(j));
    return false;
  }
  if (j.contains("error")) {
    const json& e = j["error"];
    std::string msg = e.is_object() && e.contains("message") && e["message"].is_string()
                          ? e["message"].get<std::string>()
                          : excerpt(e.dump());
    error_ = fmt::format("{}: the server reported an error: {}", where, msg);
    return false;
  }
  if (!optional_string(j, "model", where, &reply_.model, &error_)) return false;
  if (!j.contains("choices") || !j["choices"].is_array()) {
    error_ = j.contains("choices") ? fmt::format("{}.choices: expected an array, got {}", where,
                                                 type_name(j["choices"]))
                                   : fmt::format("{}: no \"choices\"", where);
    return false;
  }
  for (size_t i = 0; i < j["choices"].size(); ++i) {
    const json& c = j["choices"][i];
    const std::string cw = fmt::format("{}.choices[{}]", where, i);
    if (!c.is_object()) {
      error_ = fmt::format("{}: expected an object, got {}", cw, type_name(c));
      return false;
    }
    if (c.contains("index") && !c["index"].is_null() &&
        (!c["index"].is_number_integer() || c["index"].get<int64_t>() != 0)) {
      continue;  // another choice (n > 1 is never asked for)
    }
    const char* msg_key = sse_ ? "delta" : "message";
    if (!c.contains(msg_key) || !c[msg_key].is_object()) {
      error_ = c.contains(msg_key) ? fmt::format("{}.{}: expected an object, got {}", cw, msg_key,
                                                 type_name(c[msg_key]))
                                   : fmt::format("{}: no \"{}\"", cw, msg_key);
      return false;
    }
    const json& d = c[msg_key];
    std::string content, reasoning;
    if (!optional_string(d, "content", cw + "." + msg_key, &content, &error_)) return false;
    if (!optional_string(d, "reasoning_content", cw + "." + msg_key, &reasoning, &error_)) {
      return false;
    }
    if (!content.empty() || !reasoning.empty()) first_token_ = true;
    reasoning_ += reasoning;
    reply_.text += content;
    std::string finish;
    if (!optional_string(c, "finish_reason", cw, &finish, &error_)) return false;
    if (!finish.empty()) reply_.finish_reason = finish;
  }
  if (j.contains("usage") && !j["usage"].is_null()) {
    const json& u = j["usage"];
    if (!u.is_object()) {
      error_ = fmt::format("{}.usage: expected an object, got {}", where, type_name(u));
      return false;
    }
    if (!token_count(u, "prompt_tokens", where + ".usage", &prompt_tokens_, &error_) ||
        !token_count(u, "completion_tokens", where + ".usage", &completion_tokens_, &error_)) {
      return false;
    }
    // OpenAI's (and vLLM's) count of the reasoning tokens; optional, like its object.
    if (u.contains("completion_tokens_details") && u["completion_tokens_details"].is_object()) {
      const json& det = u["completion_tokens_details"];
      if (det.contains("reasoning_tokens") && !det["reasoning_tokens"].is_null() &&
          !token_count(det, "reasoning_tokens", where + ".usage.completion_tokens_details",
                       &reasoning_tokens_, &error_)) {
        return false;
      }
    }
  }
  return true;
}

Result<ChatReply> ChatStreamParser::finish() {
  auto fail = [](const std::string& what) {
    return make_error(ErrorCode::kCorrupt, fmt::format("malformed answer: {}", what));
  };
  if (!error_.empty()) return fail(error_);
  if (!sse_) {
    // Not an event stream: the whole body is one chat.completion object.
    json j = json::parse(raw_, nullptr, false);
    if (j.is_discarded()) {
      return fail(raw_.empty() ? "empty body" : fmt::format("not JSON: {}", excerpt(raw_)));
    }
    if (!chunk(j)) return fail(error_);
  } else {
    if (!buffer_.empty() && !line(buffer_)) return fail(error_);
    if (!done_) return fail("the stream ended without data: [DONE]");
  }
  if (reply_.finish_reason.empty()) return fail("no finish_reason in any choice");
  if (!prompt_tokens_ || !completion_tokens_) {
    return fail("no usage (token counts); the server must support stream_options.include_usage");
  }
  ChatReply r = reply_;
  r.reasoning = reasoning_;
  r.reasoning_tokens = reasoning_tokens_;
  r.prompt_tokens = *prompt_tokens_;
  r.completion_tokens = *completion_tokens_;
  return r;
}

Result<std::vector<std::string>> parse_models_response(const std::string& body) {
  auto fail = [](const std::string& what) {
    return make_error(ErrorCode::kCorrupt, fmt::format("malformed model list: {}", what));
  };
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return fail(fmt::format("not JSON: {}", excerpt(body)));
  if (!j.is_object()) return fail(fmt::format("expected a JSON object, got {}", type_name(j)));
  if (!j.contains("data")) return fail("no \"data\"");
  if (!j["data"].is_array()) {
    return fail(fmt::format("data: expected an array, got {}", type_name(j["data"])));
  }
  std::vector<std::string> ids;
  for (size_t i = 0; i < j["data"].size(); ++i) {
    const json& m = j["data"][i];
    if (!m.is_object() || !m.contains("id") || !m["id"].is_string()) {
      return fail(fmt::format("data[{}]: expected an object with a string \"id\"", i));
    }
    ids.push_back(m["id"].get<std::string>());
  }
  if (ids.empty()) return fail("data is empty: the server serves no model");
  return ids;
}

}  // namespace clinbench
