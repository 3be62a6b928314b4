// How a GPU attention kernel splits long key ranges across thread blocks (merged afterwards
// through their log-sum-exps), shared by the kernels that do it and testable without a GPU.
#pragma once

#include <algorithm>

namespace costcurve {

struct KeySplits {
  long splits = 1;      // parts of every key range
  long split_keys = 0;  // keys per part: a multiple of the tile
};

// choose_key_splits' merge_cost for attention that writes a d_v-float partial per query row and
// split (read back by the merge) and spends 2 (d_qk + d_v) FLOP per row and key: the two sides
// compared at ~250 bf16 FLOP per HBM byte (an H100's balance; the rule needs only the order of
// magnitude). Rows cancel out.
inline double attention_merge_cost(int d_qk, int d_v, long max_keys) {
  constexpr double kFlopPerByte = 250.0;
  const double partial_bytes = 2.0 * d_v * 4;  // per row: written, then read
  const double flops = 2.0 * static_cast<double>(std::max(max_keys, 1L)) * (d_qk + d_v);
  return partial_bytes * kFlopPerByte / flops;
}

// With `blocks` blocks before splitting, one block per SM at a time: the number of parts that
// leaves the fewest SMs idle over the waves, ties to fewer (each split costs a merge), keeping at
// least `min_tiles` tiles of `tile_keys` per part and at most 256 parts. Measured on an H100:
// 128 blocks run as one wave rather than two half-length waves of 256 (sparse_decode B=32
// 218 -> 181 us).
// merge_cost: the time to write and merge one part's partial result, as a fraction of one block's
// time over all its keys. Where partials are large beside the work (prefill: 128 rows x 128 floats
// per block) it keeps a grid that already fills the GPU from splitting for a few percent of tail:
// on an H100, dense prefill (512 blocks) at 16K keys took 31 splits and wrote 1 GB of partials:
// 350 TFLOP/s, against 513 unsplit at 4K keys.
inline KeySplits choose_key_splits(long blocks, int sms, long max_keys, long tile_keys,
                                   long min_tiles = 4, double merge_cost = 0.0) {
  const long per_split = min_tiles * tile_keys;
  const long max_splits = std::max(1L, std::min(256L, (max_keys + per_split - 1) / per_split));
  long splits = 1;
  double best = 1e300;
  for (long n = 1; n <= max_splits; ++n) {
    const double merge = n > 1 ? 0.02 + merge_cost * static_cast<double>(n * blocks) / sms : 0.0;
    const double cost =
        static_cast<double>((blocks * n + sms - 1) / sms) / static_cast<double>(n) + merge;
    if (cost < best - 1e-12) best = cost, splits = n;
  }
  KeySplits r;
  r.split_keys = (max_keys + splits - 1) / splits;
  r.split_keys = std::max(tile_keys, (r.split_keys + tile_keys - 1) / tile_keys * tile_keys);
  r.splits = std::max(1L, (max_keys + r.split_keys - 1) / r.split_keys);
  return r;
}

}  // namespace costcurve
