// kvsched/serve/http_routes.hpp: the server's OpenAI-compatible HTTP API over a ServingEngine
// (cpp-httplib + nlohmann-json + fmt; link them where this header is used).
//   POST /v1/completions, /v1/chat/completions   OpenAI's bodies; "stream": true answers with
//        server-sent events (`data: {chunk}` ..., a usage chunk with stream_options.include_usage,
//        `data: [DONE]`). Shapes: OpenAI API reference (Completions, Chat, "The chat
//        completion chunk object"); vLLM 0.6 entrypoints/openai/serving_completion.py and
//        serving_chat.py for what the server sends when.
//   GET  /v1/models   {"object": "list", "data": [{"id", "object": "model", "max_model_len", ...}]}
//   GET  /health      200 "ok"
//   GET  /metrics     Prometheus text (serve/metrics.hpp)
// Errors: OpenAI's body {"error": {"message", "type", "param", "code"}} with 400 (bad input,
// prompt + max_tokens beyond the context), 404 (unknown route or model), 413 (body too big),
// 429 (queue full), 503 (shutting down), 500 (anything else). A client that disconnects,
// streaming or not, has its request aborted and its KV blocks freed.
#pragma once
#include "kvsched/serve/httplib.hpp"

#include <chrono>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "kvsched/serve/api_error.hpp"
#include "kvsched/serve/completion_request.hpp"
#include "kvsched/serve/connection_watch.hpp"
#include "kvsched/serve/serving_engine.hpp"

namespace kvsched::serve {

/// How the routes behave.
struct RouteOptions {
  std::int32_t default_max_tokens = 16;          // when a request gives no max_tokens (OpenAI's default for completions)
  std::chrono::milliseconds poll{100};           // how often a waiting handler checks its client
  ConnectionWatch* watch = nullptr;              // marks connections busy while a completion runs (optional)
};

/// JSON text with invalid UTF-8 (e.g. a random model's bytes) replaced by U+FFFD.
[[nodiscard]] inline std::string dump_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// Writes an ApiError as the response.
inline void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status();
  res.set_content(dump_json(e.body()), "application/json");
}

/// A request checked against the served model and turned into an engine submission.
/// Throws ApiError: 404 for another model, 400 for an empty prompt, token ids outside the
/// vocabulary, or prompt + max_tokens beyond the context (vLLM's message).
[[nodiscard]] inline Submission make_submission(const CompletionRequest& r, const Executor& exec, std::int32_t default_max_tokens) {
  if (!r.model.empty() && r.model != exec.model_name())
    throw ApiError(404, "The model `" + r.model + "` does not exist.", "model", "NotFoundError", "model_not_found");
  Submission s;
  s.prompt = r.prompt_ids ? *r.prompt_ids : exec.encode(r.prompt_text);
  const char* prompt_param = r.chat ? "messages" : "prompt";
  if (s.prompt.empty()) throw bad_request(prompt_param, std::string(prompt_param) + ": empty");
  for (const std::int32_t t : s.prompt)
    if (t >= exec.vocab_size())
      throw bad_request(prompt_param, "prompt: token id " + std::to_string(t) + " outside the vocabulary of " +
                                          std::to_string(exec.vocab_size()));
  const auto len = static_cast<std::int64_t>(s.prompt.size());
  const std::int64_t ctx = exec.max_model_len();
  if (len >= ctx)
    throw bad_request(prompt_param, "This model's maximum context length is " + std::to_string(ctx) + " tokens. However, you requested " +
                                        std::to_string(len) + " tokens in the prompt, leaving none for the completion.");
  if (r.max_tokens && len + *r.max_tokens > ctx)
    throw bad_request(r.chat ? "max_completion_tokens" : "max_tokens",
                      "This model's maximum context length is " + std::to_string(ctx) + " tokens. However, you requested " +
                          std::to_string(len + *r.max_tokens) + " tokens (" + std::to_string(len) + " in the prompt, " +
                          std::to_string(*r.max_tokens) + " for the completion). Please reduce the prompt or max_tokens.");
  s.max_tokens = r.max_tokens ? *r.max_tokens : static_cast<std::int32_t>(std::min<std::int64_t>(default_max_tokens, ctx - len));
  s.sampling = r.sampling;
  s.stop = r.stop;
  s.ignore_eos = r.ignore_eos;
  s.slo = r.slo;
  return s;
}

namespace detail {
inline std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

/// The ApiError of a stream that ended in abort or error (non-streaming answer).
inline ApiError end_error(const TokenStream::Snapshot& s) {
  if (s.finish == FinishReason::kAbort && s.error.find("shutting down") != std::string::npos)
    return ApiError(503, "request aborted: " + s.error);
  if (s.finish == FinishReason::kError && s.error.find("executor failed") == std::string::npos)
    return ApiError(400, "request rejected: " + s.error);  // the scheduler can never grant it
  return ApiError(500, "request ended: " + (s.error.empty() ? std::string("aborted") : s.error));
}

/// Marks a connection busy for the ConnectionWatch while it lives.
struct BusyMark {
  ConnectionWatch* watch;
  Endpoint peer;
  BusyMark(ConnectionWatch* w, Endpoint p) : watch(w), peer(std::move(p)) { if (watch) watch->enter(peer); }
  ~BusyMark() { if (watch) watch->leave(peer); }
  BusyMark(const BusyMark&) = delete;
  BusyMark& operator=(const BusyMark&) = delete;
};

inline nlohmann::json usage_json(const TokenStream& t, std::int32_t completion) {
  return {{"prompt_tokens", t.prompt_tokens()}, {"completion_tokens", completion}, {"total_tokens", t.prompt_tokens() + completion}};
}

/// Serves one parsed completion request (streaming or not).
inline void serve_completion(const httplib::Request& req, httplib::Response& res, ServingEngine& engine, const RouteOptions& opt,
                             const CompletionRequest& r) {
  using nlohmann::json;
  const Submission sub = make_submission(r, engine.executor(), opt.default_max_tokens);
  auto busy = std::make_shared<BusyMark>(opt.watch, Endpoint{req.remote_addr, req.remote_port});
  const Submitted s = engine.submit(sub);
  const int fd = find_connection_fd({req.local_addr, req.local_port}, {req.remote_addr, req.remote_port});
  const std::string id = (r.chat ? "chatcmpl-" : "cmpl-") + std::to_string(s.id);
  const std::string model = engine.executor().model_name();
  const std::int64_t created = unix_now();
  if (!r.stream) {
    TokenStream::Snapshot snap;
    for (;;) {
      snap = s.stream->wait_for(snap.version, opt.poll);
      if (snap.closed) break;
      if (fd >= 0 && peer_closed(fd)) {
        engine.cancel(s.id);
        res.status = 499;  // nginx's "client closed request"; nobody reads it
        return;
      }
    }
    if (snap.finish != FinishReason::kStop && snap.finish != FinishReason::kLength) throw end_error(snap);
    json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", to_string(snap.finish)}};
    if (r.chat) choice["message"] = {{"role", "assistant"}, {"content", snap.text}};
    else choice["text"] = snap.text;
    const json out = {{"id", id}, {"object", r.chat ? "chat.completion" : "text_completion"}, {"created", created}, {"model", model},
                      {"choices", json::array({choice})}, {"usage", usage_json(*s.stream, snap.completion_tokens)}};
    res.set_content(dump_json(out), "application/json");
    return;
  }
  res.set_header("Cache-Control", "no-cache");
  struct State {
    std::uint64_t seen = 0;
    std::size_t sent = 0;
    std::int32_t tokens = 0;
    bool started = false;
  };
  auto chunk = [id, model, created, chat = r.chat, continuous = r.continuous_usage, stream = s.stream](
                   const json& delta_or_text, const json& finish, std::int32_t tokens = 0) {
    json c = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish}};
    if (chat) c["delta"] = delta_or_text;
    else c["text"] = delta_or_text;
    json j = {{"id", id}, {"object", chat ? "chat.completion.chunk" : "text_completion"}, {"created", created},
              {"model", model}, {"choices", json::array({c})}};
    if (continuous) j["usage"] = usage_json(*stream, tokens);
    return "data: " + dump_json(j) + "\n\n";
  };
  res.set_chunked_content_provider(
      "text/event-stream",
      [&engine, s, fd, opt, chunk, busy, id, model, created, chat = r.chat, include_usage = r.include_usage, continuous = r.continuous_usage,
       st = State{}](std::size_t, httplib::DataSink& sink) mutable {
        std::string out;
        if (!st.started && chat) out += chunk(json{{"role", "assistant"}, {"content", ""}}, nullptr);
        st.started = true;
        const TokenStream::Snapshot snap = s.stream->wait_for(st.seen, opt.poll);
        st.seen = snap.version;
        if (snap.text.size() > st.sent || (continuous && snap.completion_tokens > st.tokens)) {
          const std::string delta = snap.text.substr(st.sent);
          out += chat ? chunk(json{{"content", delta}}, nullptr, snap.completion_tokens) : chunk(delta, nullptr, snap.completion_tokens);
          st.sent = snap.text.size();
          st.tokens = snap.completion_tokens;
        }
        if (snap.closed) {
          if (snap.finish == FinishReason::kStop || snap.finish == FinishReason::kLength) {
            out += chunk(chat ? json::object() : json(""), to_string(snap.finish), snap.completion_tokens);
            if (include_usage)
              out += "data: " + dump_json({{"id", id}, {"object", chat ? "chat.completion.chunk" : "text_completion"}, {"created", created},
                                           {"model", model}, {"choices", json::array()}, {"usage", usage_json(*s.stream, snap.completion_tokens)}}) +
                     "\n\n";
          } else {
            out += "data: " + dump_json(end_error(snap).body()) + "\n\n";
          }
          out += "data: [DONE]\n\n";
        }
        if ((!out.empty() && !sink.write(out.data(), out.size())) || (fd >= 0 && peer_closed(fd))) {
          engine.cancel(s.id);  // the client went away: abort, free its KV blocks
          return false;
        }
        if (snap.closed) sink.done();
        return true;
      },
      [&engine, s](bool success) {
        if (!success && !s.stream->closed()) engine.cancel(s.id);
      });
}
}  // namespace detail

/// Registers every route, plus OpenAI-shaped error and exception handlers, on `server`.
/// `engine` must outlive the server.
inline void add_routes(httplib::Server& server, ServingEngine& engine, RouteOptions opt = {}) {
  using nlohmann::json;
  server.set_pre_routing_handler([opt](const httplib::Request& req, httplib::Response&) {
    if (opt.watch) detail::BusyMark touch(opt.watch, {req.remote_addr, req.remote_port});  // a live request: not a slowloris
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server.Get("/health", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain"); });
  server.Get("/metrics", [&engine](const httplib::Request&, httplib::Response& res) {
    res.set_content(engine.metrics_text(), "text/plain; version=0.0.4; charset=utf-8");
  });
  const std::int64_t started = detail::unix_now();
  server.Get("/v1/models", [&engine, started](const httplib::Request&, httplib::Response& res) {
    const auto& ex = engine.executor();
    const json m = {{"id", ex.model_name()}, {"object", "model"}, {"created", started}, {"owned_by", "kvsched"},
                    {"root", ex.model_name()}, {"max_model_len", ex.max_model_len()}};
    res.set_content(dump_json({{"object", "list"}, {"data", json::array({m})}}), "application/json");
  });
  server.Get("/v1/stats", [&engine](const httplib::Request&, httplib::Response& res) {
    const ServingStats s = engine.stats();
    const json j = {{"submitted", s.submitted}, {"finished", s.finished}, {"aborted", s.aborted}, {"rejected", s.rejected},
                    {"errors", s.errors}, {"iterations", s.iterations}, {"tokens", s.tokens}, {"preemptions", s.preemptions},
                    {"live", s.live}, {"free_blocks", s.free_blocks}, {"total_blocks", s.total_blocks}};
    res.set_content(j.dump(), "application/json");
  });
  for (const bool chat : {false, true}) {
    server.Post(chat ? "/v1/chat/completions" : "/v1/completions", [&engine, opt, chat](const httplib::Request& req, httplib::Response& res) {
      try {
        detail::serve_completion(req, res, engine, opt, parse_completion_request(req.body, chat));
      } catch (const ApiError& e) {
        send_error(res, e);
      }
    });
  }
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      std::rethrow_exception(ep);
    } catch (const ApiError& e) {
      send_error(res, e);
      return;
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, ApiError(500, "internal error: " + what));
  });
  server.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Handled;
    if (res.status == 404) send_error(res, ApiError(404, "no route " + req.method + " " + req.path));
    else if (res.status == 413) send_error(res, ApiError(413, "request body too large", "", "invalid_request_error"));
    else send_error(res, ApiError(res.status, "HTTP error " + std::to_string(res.status)));
    return httplib::Server::HandlerResponse::Handled;
  }));
}

}  // namespace kvsched::serve
