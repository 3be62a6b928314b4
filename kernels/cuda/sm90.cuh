// Hopper (sm_90a) primitives shared by the warpgroup-MMA kernels (mqa_wgmma.cu, indexer_wgmma.cu,
// prefill_wgmma.cu): shared-memory matrix descriptors, wgmma ordering, proxy fences, mbarriers and
// TMA copies. Call the device functions only from code compiled for sm_90a
// (`__CUDA_ARCH_FEAT_SM90_ALL`); the kernels' launchers check that this code exists (has_sm90a).
#pragma once

#include <cudaTypedefs.h>

#include <cstdint>

#include "kernels/cuda/context.cuh"

namespace costcurve::cuda::sm90 {

// Whether the code that runs on this device is the sm_90a build (a plain sm_90 build, or a binary
// without 90a, has the wgmma kernels only as traps). Asked once per process.
bool has_sm90a(Context& ctx);
// The driver's cuTensorMapEncodeTiled, or null where the driver lacks it. Looked up once.
PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder();
// Whether a tensor may sit behind a tensor map with a swizzle: the CUDA Programming Guide's table
// of TMA swizzle modes lists 128-byte alignment of the global address, where the driver checks
// only 16. Kept to the stricter rule, which costs nothing here: cudaMalloc's 256 always holds, and
// a pointer into a larger allocation that misses it takes the kernel's non-TMA path.
inline bool swizzle_aligned(const void* ptr) {
  return reinterpret_cast<std::uintptr_t>(ptr) % 128 == 0;
}

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
// The same for register A fragments that an asynchronous wgmma may still be reading.
template <int N, int M>
__device__ __forceinline__ void fence_operands(std::uint32_t (&r)[N][M]) {
#pragma unroll
  for (int i = 0; i < N; ++i)
#pragma unroll
    for (int j = 0; j < M; ++j) asm volatile("" : "+r"(r[i][j])::"memory");
}

// Orders this thread's generic-proxy shared-memory writes (plain stores, cp.async) before the
// async-proxy reads of wgmma and TMA that a following barrier releases.
__device__ __forceinline__ void fence_async_smem() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

__device__ __forceinline__ std::uint32_t smem_u32(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void mbar_init(std::uint32_t bar, std::uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(std::uint32_t bar, std::uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void mbar_arrive(std::uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// Waits for the phase of the given parity to complete. A fresh barrier counts as having completed
// the phase before its first: parity 1 passes at once.
__device__ __forceinline__ void mbar_wait(std::uint32_t bar, std::uint32_t parity) {
  std::uint32_t done = 0;
  do {
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
        "selp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
  } while (!done);
}

__device__ __forceinline__ void tma_load_2d(std::uint32_t dst, const CUtensorMap* map, int c0,
                                            int c1, std::uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, "
      "{%2, %3}], [%4];\n" ::"r"(dst),
      "l"(reinterpret_cast<std::uint64_t>(map)), "r"(c0), "r"(c1), "r"(bar)
      : "memory");
}
__device__ __forceinline__ void tma_load_3d(std::uint32_t dst, const CUtensorMap* map, int c0,
                                            int c1, int c2, std::uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, "
      "{%2, %3, %4}], [%5];\n" ::"r"(dst),
      "l"(reinterpret_cast<std::uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(bar)
      : "memory");
}
__device__ __forceinline__ void tma_load_4d(std::uint32_t dst, const CUtensorMap* map, int c0,
                                            int c1, int c2, int c3, std::uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, "
      "{%2, %3, %4, %5}], [%6];\n" ::"r"(dst),
      "l"(reinterpret_cast<std::uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(bar)
      : "memory");
}
__device__ __forceinline__ void bulk_load(std::uint32_t dst, const void* src, std::uint32_t bytes,
                                          std::uint32_t bar) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::
          "r"(dst),
      "l"(src), "r"(bytes), "r"(bar)
      : "memory");
}

}  // namespace costcurve::cuda::sm90
