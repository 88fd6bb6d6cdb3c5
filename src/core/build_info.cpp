#include "structseq/core/build_info.h"

#include "structseq/build_config.h"
#include "structseq/core/threads.h"

#include <fmt/format.h>
#include <omp.h>

extern "C" char* openblas_get_config(void);
extern "C" int openblas_get_parallel(void);

namespace structseq {

std::vector<std::pair<std::string, std::string>> build_info() {
    const int blas_parallel = openblas_get_parallel();
    const char* blas_threading = blas_parallel == 2   ? "OpenMP"
                                 : blas_parallel == 1 ? "pthreads"
                                                      : "sequential";
    return {
        {"version", build::version},
        {"build type", build::build_type},
        {"compiler", build::compiler},
        {"native (-march=native)", build::native ? "on" : "off"},
        {"sanitizers", build::sanitize ? "address,undefined" : "off"},
        {"OpenMP", fmt::format("{}", _OPENMP)},
        {"threads", fmt::format("{} (of {} cores)", num_threads(), hardware_threads())},
        {"BLAS", fmt::format("{} ({} threading)", openblas_get_config(), blas_threading)},
    };
}

}  // namespace structseq
