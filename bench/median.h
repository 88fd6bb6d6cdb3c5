#pragma once
// The median of a run's per-iteration figures: on a shared machine one slow iteration moves a
// mean but not a median.

#include <algorithm>
#include <cstddef>
#include <vector>

namespace structseq {

inline double median(std::vector<double> v) {
    if (v.empty()) return 0.0;
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
}

}  // namespace structseq
