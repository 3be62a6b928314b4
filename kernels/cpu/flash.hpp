// Streaming (flash-style) softmax attention on the CPU: the score matrix exists only one key block
// at a time, both products run through sgemm, and partial states from split key ranges combine.
#pragma once

#include <cstdint>
#include <vector>

namespace costcurve::cpu {

// Unnormalised attention state of `rows` query rows: o = sum_j 2^(s_j - m) v_j, l = sum 2^(s_j -
// m), with scores s in log2 units (scale * log2(e) * q.k).
struct FlashState {
  int rows = 0, d_v = 0;
  std::vector<float> o, m, l;

  void reset(int rows_, int d_v_);
  // Writes o / l to out (row stride ld_out) and the natural-log LSE to lse[r * lse_stride]
  // when lse is not null. Rows that saw no key get zeros and -inf.
  void finish(float* out, long ld_out, float* lse, long lse_stride) const;
  // Folds another state of the same rows into this one.
  void merge(const FlashState& other);
};

// Queries of one attention problem: `rows` rows of d_qk at q (row stride ldq).
struct FlashQuery {
  const float* q;
  long ldq;
  int rows;
  int d_qk;
  float scale_log2;  // softmax scale * log2(e)
};

// Adds a block of n keys (k rows of d_qk, stride ldk; v rows of d_v, stride ldv) to the state.
// visible[r] (if not null) is how many leading keys of this block row r may see (0..n).
// scratch must hold rows * n floats.
void flash_block(const FlashQuery& q, const float* k, long ldk, const float* v, long ldv, int n,
                 const int* visible, float* scratch, FlashState& st);

// Block size along keys that keeps the score tile in L2.
inline constexpr int kFlashKeyBlock = 256;

}  // namespace costcurve::cpu
