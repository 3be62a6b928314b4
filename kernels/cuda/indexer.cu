#include "kernels/cuda/context.cuh"
namespace costcurve::cuda {
void indexer(Context&, const IndexerArgs&) { throw OpError("cuda indexer is not implemented yet"); }
}
