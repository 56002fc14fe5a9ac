// fuzz/fuzz_http_request.cpp: libFuzzer target of the server's request parser
// (serve/completion_request.hpp, parse_completion_request) for /v1/completions and
// /v1/chat/completions. Bad input must be an ApiError with status 400 (OpenAI's error body);
// anything else escaping (a nlohmann exception, a crash) is a finding, as is a parsed request
// with a max_tokens below 1.
#include <cstdint>
#include <string>

#include "fuzz_util.hpp"
#include "kvsched/serve/api_error.hpp"
#include "kvsched/serve/completion_request.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  for (const bool chat : {false, true}) {
    try {
      const auto r = kvsched::serve::parse_completion_request(body, chat);
      if (r.max_tokens && *r.max_tokens < 1) kvsched::fuzz::fail("parsed a request with max_tokens < 1");
    } catch (const kvsched::serve::ApiError& e) {
      if (e.status() != 400) kvsched::fuzz::fail("a bad body gave a status other than 400");
    }
  }
  return 0;
}
