// Consumer of the installed kvsched package: runs one request through vllm_v1 to completion.
#include <kvsched/kvsched.hpp>

int main() {
  kvsched::EngineConfig e;
  e.num_device_blocks = 64;
  e.max_model_len = 1024;
  kvsched::Scheduler<kvsched::presets::vllm_v1> s(e, kvsched::LatencyModel{});
  kvsched::RequestSpec r;
  r.id = 1;
  r.prompt_tokens = 32;
  r.max_tokens = 4;
  s.add_request(r);
  double t = 0;
  for (int i = 0; i < 10 && s.num_unfinished() > 0; ++i) {
    (void)s.schedule(t);
    s.on_step_done({t += 0.01, {}});
  }
  return s.num_unfinished() == 0 ? 0 : 1;
}
