#define CATCH_CONFIG_MAIN
// GCC 12 with -fsanitize=address,undefined at -O2 reports -Wmaybe-uninitialized inside
// libstdc++'s <regex> (std::function moves in regex_automaton.h), which Catch2's
// implementation includes: a false positive in system code that -Werror would turn fatal.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <catch2/catch.hpp>
#pragma GCC diagnostic pop
