// kvsched/serve/http_routes.hpp: the minimal server's HTTP API over a ServingEngine
// (cpp-httplib + nlohmann-json; link both where this header is used).
//
//   POST /v1/completions {"prompt_tokens": N | "prompt": "text", "max_tokens": M,
//                         "stream": bool, "slo": {"ttft_s": s, "tbt_s": s}}
//        stream=false -> {"id", "state", "num_tokens", "ttft_s", "e2e_s", "token_times_s"}
//        stream=true  -> server-sent events, one `data: {"id","index","time_s"}` per token,
//                        then `data: {"id","state","reason"}` and `data: [DONE]`
//   GET  /v1/stats   -> ServingStats as JSON
//   GET  /health     -> "ok"
// Bad input -> 400 {"error": "...field..."}; a request the scheduler rejects -> 422 with the
// reason (or a final event when streaming). A client that disconnects mid-stream has its
// request aborted, and its KV cache blocks are freed.
#pragma once
#include <httplib.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "kvsched/serve/serving_engine.hpp"

namespace kvsched::serve {

/// Parses a /v1/completions body into a RequestSpec. Throws std::invalid_argument naming the
/// field. "prompt" text counts one token per whitespace-separated word (a stand-in: there is
/// no tokenizer without a model).
[[nodiscard]] inline RequestSpec parse_completion_request(const std::string& body, bool* stream) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    throw std::invalid_argument(std::string("body: not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw std::invalid_argument("body: expected a JSON object");
  RequestSpec spec;
  if (j.contains("prompt_tokens")) {
    if (!j["prompt_tokens"].is_number_integer() || j["prompt_tokens"].get<std::int64_t>() < 1)
      throw std::invalid_argument("prompt_tokens: expected an integer >= 1");
    spec.prompt_tokens = static_cast<std::int32_t>(std::min<std::int64_t>(j["prompt_tokens"].get<std::int64_t>(), 1 << 30));
  } else if (j.contains("prompt")) {
    if (!j["prompt"].is_string()) throw std::invalid_argument("prompt: expected a string");
    std::istringstream words(j["prompt"].get<std::string>());
    std::string w;
    while (words >> w) ++spec.prompt_tokens;
    if (spec.prompt_tokens < 1) throw std::invalid_argument("prompt: empty");
  } else {
    throw std::invalid_argument("prompt_tokens: missing (or give \"prompt\")");
  }
  if (!j.contains("max_tokens") || !j["max_tokens"].is_number_integer() || j["max_tokens"].get<std::int64_t>() < 1)
    throw std::invalid_argument("max_tokens: expected an integer >= 1");
  spec.max_tokens = static_cast<std::int32_t>(std::min<std::int64_t>(j["max_tokens"].get<std::int64_t>(), 1 << 30));
  spec.oracle_output_tokens = spec.max_tokens;
  *stream = j.value("stream", false);
  if (j.contains("slo")) {
    const auto& slo = j["slo"];
    if (!slo.is_object()) throw std::invalid_argument("slo: expected an object");
    for (const char* k : {"ttft_s", "tbt_s"})
      if (slo.contains(k) && !slo[k].is_number()) throw std::invalid_argument(std::string("slo.") + k + ": expected a number");
    spec.slo.ttft_s = slo.value("ttft_s", 0.0);
    spec.slo.tbt_s = slo.value("tbt_s", 0.0);
  }
  return spec;
}

/// Registers the routes on `server`; `engine` must outlive it.
inline void add_routes(httplib::Server& server, ServingEngine& engine) {
  using nlohmann::json;
  server.Get("/health", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain"); });
  server.Get("/v1/stats", [&engine](const httplib::Request&, httplib::Response& res) {
    const ServingStats s = engine.stats();
    const json j = {{"submitted", s.submitted}, {"finished", s.finished}, {"aborted", s.aborted},
                    {"rejected", s.rejected}, {"iterations", s.iterations}, {"tokens", s.tokens},
                    {"preemptions_recompute", s.preemptions_recompute}, {"preemptions_swap", s.preemptions_swap},
                    {"running", s.running}};
    res.set_content(j.dump(), "application/json");
  });
  server.Post("/v1/completions", [&engine](const httplib::Request& req, httplib::Response& res) {
    bool stream = false;
    RequestSpec spec;
    try {
      spec = parse_completion_request(req.body, &stream);
    } catch (const std::invalid_argument& e) {
      res.status = 400;
      res.set_content(json{{"error", e.what()}}.dump(), "application/json");
      return;
    }
    RequestId id = 0;
    std::shared_ptr<TokenStream> tokens = engine.submit(spec, &id);
    if (!tokens) {
      res.status = 503;
      res.set_content(json{{"error", "server is stopping"}}.dump(), "application/json");
      return;
    }
    const double arrival = engine.now_s();
    if (!stream) {
      std::size_t n = 0;
      json times = json::array();
      for (;;) {
        for (const auto& t : tokens->wait_from(n, std::chrono::milliseconds(100))) times.push_back(t.time_s);
        n = times.size();
        if (tokens->closed() && tokens->size() == n) break;
      }
      if (tokens->state() == RequestState::kRejected) {
        res.status = 422;
        res.set_content(json{{"id", id}, {"error", tokens->reason()}}.dump(), "application/json");
        return;
      }
      json out = {{"id", id}, {"state", to_string(tokens->state())}, {"num_tokens", n}, {"token_times_s", times}};
      if (n > 0) {
        out["ttft_s"] = times.front().get<double>() - arrival;
        out["e2e_s"] = times.back().get<double>() - arrival;
      }
      res.set_content(out.dump(), "application/json");
      return;
    }
    res.set_chunked_content_provider(
        "text/event-stream",
        [&engine, tokens, id, next = std::size_t{0}](std::size_t, httplib::DataSink& sink) mutable {
          for (const auto& t : tokens->wait_from(next, std::chrono::milliseconds(100))) {
            const std::string ev = "data: " + json{{"id", id}, {"index", t.index}, {"time_s", t.time_s}}.dump() + "\n\n";
            if (!sink.is_writable() || !sink.write(ev.data(), ev.size())) {
              engine.cancel(id);  // the client went away: free its KV cache
              return false;
            }
            ++next;
          }
          if (tokens->closed() && tokens->size() == next) {
            const std::string end = "data: " + json{{"id", id}, {"state", to_string(tokens->state())}, {"reason", tokens->reason()}}.dump() +
                                    "\n\ndata: [DONE]\n\n";
            sink.write(end.data(), end.size());
            sink.done();
            return true;
          }
          if (!sink.is_writable()) {
            engine.cancel(id);
            return false;
          }
          return true;
        },
        [&engine, tokens, id](bool success) {
          if (!success && !tokens->closed()) engine.cancel(id);
        });
  });
}

}  // namespace kvsched::serve
