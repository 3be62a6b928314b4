#include "kernels/cuda/context.cuh"
namespace costcurve::cuda {
void dense_prefill(Context&, const DensePrefillArgs&) { throw OpError("cuda dense_prefill is not implemented yet"); }
void dense_decode(Context&, const DenseDecodeArgs&) { throw OpError("cuda dense_decode is not implemented yet"); }
void sparse_attention(Context&, const SparseArgs&) { throw OpError("cuda sparse attention is not implemented yet"); }
}
