// kvsched/io/csv.hpp: strict input parsing (CSV tables and record streams, the number rule, the
// input error), in one include.
//
// Folders and namespaces (bottom to top; a header includes its own folder and lower ones only):
//   core, hardware, io, latency, policy, scheduler, presets, backend are namespace kvsched
//   (io may be kvsched::io); sim is kvsched::sim; serve is kvsched::serve.
// io/ is namespace kvsched::io. One tokenizer (csv_tokenizer.hpp) serves two thin views: the
// table (csv_table.hpp: profiles, measurements) and the stream (csv_reader.hpp: traces). Every
// reader throws InputError (file, line, column) and parses numbers with number.hpp's rule.
#pragma once
#include "kvsched/io/csv_reader.hpp"     // IWYU pragma: export
#include "kvsched/io/csv_table.hpp"      // IWYU pragma: export
#include "kvsched/io/csv_tokenizer.hpp"  // IWYU pragma: export
#include "kvsched/io/input_error.hpp"    // IWYU pragma: export
#include "kvsched/io/number.hpp"         // IWYU pragma: export
#include "kvsched/io/text.hpp"           // IWYU pragma: export
