// Exact static attention Att(Q, K, V) = D^-1 exp(s Q K^T) V for general
// shapes (arXiv 2302.13214's problem; the library's static baseline), in
// SoftmaxTiles' tiles with an online softmax so that nothing of size n_q x
// n_kv exists.
#pragma once

#include <cstdint>

#include "matrix_view.hpp"

namespace att {

// Validates the arguments shared by the exact and the polynomial static
// attention (pointers, shapes, leading dimensions, n_q <= n_kv when causal,
// then scale, finite entries and |V| <= ATT_MAX_VALUE: every size before any
// entry is read) and returns R = s max_i |Q_i|_2 max_c |K_c|_2, which bounds
// every logit; throws ATT_E_RANGE if R exceeds ATT_MAX_LOGIT.
double check_attention_arguments(const ConstView &Q, const ConstView &K, const ConstView &V,
                                 double scale, bool causal, const MutView &out);

// out = D^-1 exp(s Q K^T) V, with key c left out of query i's sums when
// `causal` and c > i + (n_kv - n_q). Arguments already validated.
void static_attention(const ConstView &Q, const ConstView &K, const ConstView &V, double scale,
                      bool causal, const MutView &out);

}  // namespace att
