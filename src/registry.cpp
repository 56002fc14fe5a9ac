// src/registry.cpp: the preset tables compiled once (the kvsched::registry library). Programs
// that link it see only declarations of detail::preset_table() and detail::preset_config_table()
// (KVSCHED_COMPILED_REGISTRY, presets/registry.hpp), so that their translation units do not
// each instantiate a scheduler and a JSON config for every preset.
#define KVSCHED_REGISTRY_DEFINITION
#include "kvsched/presets/config_json.hpp"
#include "kvsched/presets/registry.hpp"

#ifndef KVSCHED_COMPILED_REGISTRY
#error "src/registry.cpp is the kvsched::registry library: build it with KVSCHED_COMPILED_REGISTRY defined"
#endif
