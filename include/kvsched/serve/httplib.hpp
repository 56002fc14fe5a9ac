// kvsched/serve/httplib.hpp: cpp-httplib, included the way kvsched needs it. httplib.h pulls
// in <resolv.h>, whose `#define _res (*__res_state())` breaks Eigen (its GEMM kernels name a
// parameter _res) in any file that includes Eigen after httplib; nothing here uses the
// resolver state, so the macro is dropped.
#pragma once
#include <httplib.h>
#ifdef _res
#undef _res
#endif
