// CPU kernels behind the Backend interface; `threads` is the OpenMP team size.
#pragma once

#include "kernels/ops.hpp"

namespace costcurve::cpu {

void dense_prefill(const DensePrefillArgs& a, int threads);
void dense_decode(const DenseDecodeArgs& a, int threads);
void sparse_attention(const SparseArgs& a, int threads);
void indexer(const IndexerArgs& a, int threads);
void topk(const TopkArgs& a, int threads);
void gemm(const GemmArgs& a, int threads);

}  // namespace costcurve::cpu
