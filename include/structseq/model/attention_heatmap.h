#pragma once
// A heat map of attention weights as a standalone SVG: α (L, L) of one head, row t = the query
// at position t, column i = the key at position i, each axis labelled with the tokens' text.
// A diverging scale (blue < 0 < red, white at 0) symmetric in max |α|, since ridge attention's
// weights can be negative; softmax's are in [0, 1].

#include "structseq/core/tensor.h"

#include <string>
#include <vector>

namespace structseq {

// labels: one per position (the token's text; control characters are shown escaped).
std::string attention_heatmap_svg(const Tensor& alpha, const std::vector<std::string>& labels,
                                  const std::string& title);

}  // namespace structseq
