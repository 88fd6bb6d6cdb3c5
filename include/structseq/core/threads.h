#pragma once
// Thread control. The count starts at STRUCTSEQ_NUM_THREADS when that is set, else at the number
// of cores; set_num_threads() changes it for every later parallel region, ours and OpenBLAS's.
// Kernels open their OpenMP regions with num_threads(structseq::num_threads()).

#include <optional>
#include <string_view>

namespace structseq {

int num_threads();
void set_num_threads(int n);  // n >= 1, else Error
int hardware_threads();

// Parses a thread count as given on the command line or in STRUCTSEQ_NUM_THREADS.
// `source` names where it came from, for the error message.
int parse_thread_count(std::string_view text, std::string_view source);

}  // namespace structseq
