// Does a cache flush evict L2, and does it cost the timed kernel anything? Times a read-only
// kernel and a copy over buffers that fit in L2, hot (repeated) and right after each way of
// flushing, with CUDA events. A flush by stores leaves up to an L2 of dirty lines, which the timed
// kernel then writes back as it evicts them; "memset + discard" drops them first
// (discard.global.L2: invalidated without a write-back), the backend's COSTCURVE_L2_FLUSH=discard.
// Where "memset 2xL2" reads slower than "memset + discard", the default flush charges the kernel
// for its own write-backs. Diagnostic for the backend's flush_caches(); build and run:
// nvcc -O3 -arch=sm_90a tools/l2_probe.cu -o /tmp/l2 && /tmp/l2
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#define CK(x)                                                                 \
  do {                                                                        \
    cudaError_t e = (x);                                                      \
    if (e != cudaSuccess) {                                                   \
      std::printf("%s: %s (line %d)\n", #x, cudaGetErrorString(e), __LINE__); \
      return 1;                                                               \
    }                                                                         \
  } while (0)

__global__ void read_sum(const uint4* p, long n, unsigned* out) {
  unsigned acc = 0;
  for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long>(gridDim.x) * blockDim.x) {
    const uint4 v = p[i];
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x12345678u) *out = acc;  // keeps the loads alive
}

__global__ void copy(uint4* d, const uint4* s, long n) {
  for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long>(gridDim.x) * blockDim.x)
    d[i] = s[i];
}

__global__ void write_fill(uint4* p, long n, unsigned v) {
  for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long>(gridDim.x) * blockDim.x)
    p[i] = make_uint4(v, v + 1, v + 2, v + 3);
}

// Drops lines [0, lines) of 128 bytes at p from L2 without writing them back.
__global__ void discard_l2(char* p, long lines) {
  for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < lines;
       i += static_cast<long>(gridDim.x) * blockDim.x)
    asm volatile("discard.global.L2 [%0], 128;" ::"l"(p + 128 * i) : "memory");
}

int main() {
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  const std::size_t l2 = prop.l2CacheSize;
  std::printf("%s, L2 %zu MiB, persisting max %d\n", prop.name, l2 >> 20,
              prop.persistingL2CacheMaxSize);
  cudaStream_t st;
  CK(cudaStreamCreate(&st));
  const std::size_t flush_bytes = 2 * l2;
  uint4 *flush, *a, *b;
  unsigned* sink;
  CK(cudaMalloc(&flush, flush_bytes));
  CK(cudaMalloc(&a, 64 << 20));
  CK(cudaMalloc(&b, 64 << 20));
  CK(cudaMalloc(&sink, 4));
  CK(cudaMemset(a, 1, 64 << 20));
  CK(cudaMemset(b, 2, 64 << 20));
  const int blocks = prop.multiProcessorCount * 8;
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  unsigned round = 0;
  auto flush_with = [&](int how) {
    if (how == 1) cudaMemsetAsync(flush, ++round, flush_bytes, st);
    if (how == 2) write_fill<<<blocks, 256, 0, st>>>(flush, flush_bytes / 16, ++round);
    if (how == 3) read_sum<<<blocks, 256, 0, st>>>(flush, flush_bytes / 16, sink);
    if (how == 4) {
      cudaMemsetAsync(flush, ++round, flush_bytes, st);
      discard_l2<<<blocks, 256, 0, st>>>(reinterpret_cast<char*>(flush),
                                         static_cast<long>(flush_bytes / 128));
    }
  };
  const char* names[] = {"hot", "memset 2xL2", "store kernel 2xL2", "read kernel 2xL2",
                         "memset + discard"};
  std::printf("%-8s %-6s %-20s %10s\n", "kernel", "MiB", "before each run", "median us");
  for (int kernel = 0; kernel < 2; ++kernel)
    for (std::size_t mib : {2, 4, 8, 12, 16, 24, 34, 48}) {
      const long n = static_cast<long>(mib << 20) / 16;
      for (int how = 0; how < 5; ++how) {
        std::vector<float> t;
        for (int r = 0; r < 30; ++r) {
          flush_with(how);
          CK(cudaEventRecord(e0, st));
          if (kernel == 0)
            read_sum<<<blocks, 256, 0, st>>>(a, n, sink);
          else
            copy<<<blocks, 256, 0, st>>>(b, a, n);
          CK(cudaEventRecord(e1, st));
          CK(cudaEventSynchronize(e1));
          float ms = 0;
          CK(cudaEventElapsedTime(&ms, e0, e1));
          if (r >= 3) t.push_back(ms * 1000);
        }
        std::sort(t.begin(), t.end());
        std::printf("%-8s %-6zu %-20s %10.2f\n", kernel ? "copy" : "read", mib, names[how],
                    t[t.size() / 2]);
      }
    }
  return 0;
}
