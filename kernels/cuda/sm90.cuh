// Hopper (sm_90a) primitives shared by the warpgroup-MMA kernels (mqa_wgmma.cu, indexer_wgmma.cu):
// shared-memory matrix descriptors, wgmma ordering, proxy fences. Call them only from code compiled
// for sm_90a (`__CUDA_ARCH_FEAT_SM90_ALL`); the kernels' launchers check that this code exists.
#pragma once

#include <cstdint>

namespace costcurve::cuda::sm90 {

// Descriptor of an operand in shared memory laid out with the 128-byte swizzle: rows of 128 bytes,
// 8-row groups 1024 bytes apart (SBO). K-major operands leave LBO unused (16 bytes, encoded 1);
// N-major ones (a transposed B) use it for the distance between 64-element column blocks. Stepping
// k inside a swizzle row advances the start address: the hardware applies the XOR to the final
// address, as the loads that wrote the tile did. The tile must start on a 1024-byte boundary.
__device__ __forceinline__ std::uint64_t desc_sw128(std::uint32_t smem_addr,
                                                    std::uint32_t lbo_bytes = 16) {
  return static_cast<std::uint64_t>((smem_addr & 0x3ffff) >> 4) |
         static_cast<std::uint64_t>((lbo_bytes >> 4) & 0x3fff) << 16 |
         static_cast<std::uint64_t>(1024 >> 4) << 32 | 1ull << 62;
}

__device__ __forceinline__ void wgmma_fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wgmma_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

// Pins accesses to accumulator registers on their side of an MMA issue or wait: the compiler sees
// the asm outputs as ready at issue and would otherwise move reads before the wait.
template <int N>
__device__ __forceinline__ void fence_operands(float (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i])::"memory");
}

// Orders this thread's generic-proxy shared-memory writes (plain stores, cp.async) before the
// async-proxy reads of wgmma and TMA that a following barrier releases.
__device__ __forceinline__ void fence_async_smem() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

}  // namespace costcurve::cuda::sm90
