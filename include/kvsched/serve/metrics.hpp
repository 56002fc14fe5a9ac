// kvsched/serve/metrics.hpp: Prometheus text exposition (format 0.0.4) of the server's
// counters, gauges and histograms, under vLLM's metric names and buckets
// (vLLM 0.6 engine/metrics.py Metrics: vllm:time_to_first_token_seconds,
// vllm:inter_token_latency_seconds (named time_per_output_token_seconds before 0.8),
// vllm:e2e_request_latency_seconds, vllm:prompt_tokens_total, vllm:generation_tokens_total,
// vllm:num_requests_running / _waiting, vllm:kv_cache_usage_perc (a fraction 0..1, as vLLM v1
// reports it), vllm:num_preemptions_total, vllm:request_success_total{finished_reason}).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace kvsched::serve {

/// A cumulative histogram (seconds). Not thread-safe: the engine guards it.
class Histogram {
 public:
  explicit Histogram(std::initializer_list<double> upper_bounds) : bounds_(upper_bounds), counts_(bounds_.size(), 0) {}
  void observe(double v) {
    for (std::size_t i = 0; i < bounds_.size(); ++i)
      if (v <= bounds_[i]) ++counts_[i];
    sum_ += v;
    ++count_;
  }
  [[nodiscard]] std::int64_t count() const { return count_; }
  [[nodiscard]] double sum() const { return sum_; }
  /// Appends "# HELP/# TYPE" and the _bucket/_sum/_count lines of `name` with `labels`
  /// (e.g. model_name="x").
  void render(std::string& out, const std::string& name, const std::string& help, const std::string& labels) const {
    out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
    for (std::size_t i = 0; i < bounds_.size(); ++i)
      out += fmt::format("{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, bounds_[i], counts_[i]);
    out += fmt::format("{}_bucket{{{},le=\"+Inf\"}} {}\n{}_sum{{{}}} {}\n{}_count{{{}}} {}\n", name, labels, count_, name, labels,
                       sum_, name, labels, count_);
  }

 private:
  std::vector<double> bounds_;
  std::vector<std::int64_t> counts_;
  double sum_ = 0.0;
  std::int64_t count_ = 0;
};

/// Appends one gauge or counter sample with its HELP and TYPE lines.
inline void render_sample(std::string& out, const std::string& name, const char* type, const std::string& help,
                          const std::string& labels, double value) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{}{{{}}} {}\n", name, help, name, type, name, labels, value);
}

/// Everything /metrics reports, as the engine keeps it.
struct ServerMetrics {
  // vLLM 0.6 engine/metrics.py bucket bounds (s).
  Histogram ttft{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0};
  Histogram itl{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5};
  Histogram e2e{1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0};
  std::int64_t prompt_tokens = 0, generation_tokens = 0, preemptions = 0;
  std::int64_t finished_stop = 0, finished_length = 0, finished_abort = 0, finished_error = 0;
  std::int64_t running = 0, waiting = 0;  // gauges (requests)
  double kv_usage = 0.0;                  // gauge: used device blocks / all (0..1)

  /// The exposition text for model `model_name`.
  [[nodiscard]] std::string render(const std::string& model_name) const {
    const std::string l = fmt::format("model_name=\"{}\"", model_name);
    std::string out;
    render_sample(out, "vllm:num_requests_running", "gauge", "Number of requests in model execution batches.", l, double(running));
    render_sample(out, "vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.", l, double(waiting));
    render_sample(out, "vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.", l, kv_usage);
    render_sample(out, "vllm:num_preemptions_total", "counter", "Cumulative number of preemptions.", l, double(preemptions));
    render_sample(out, "vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.", l, double(prompt_tokens));
    render_sample(out, "vllm:generation_tokens_total", "counter", "Number of generation tokens processed.", l,
                  double(generation_tokens));
    out += "# HELP vllm:request_success_total Count of finished requests by finish reason.\n"
           "# TYPE vllm:request_success_total counter\n";
    const std::pair<const char*, std::int64_t> reasons[] = {
        {"stop", finished_stop}, {"length", finished_length}, {"abort", finished_abort}, {"error", finished_error}};
    for (const auto& [reason, n] : reasons)
      out += fmt::format("vllm:request_success_total{{{},finished_reason=\"{}\"}} {}\n", l, reason, n);
    ttft.render(out, "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", l);
    itl.render(out, "vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", l);
    e2e.render(out, "vllm:e2e_request_latency_seconds", "Histogram of end to end request latency in seconds.", l);
    return out;
  }
};

}  // namespace kvsched::serve
