#pragma once

#include <cuda_runtime.h>

#include <string>

#include "kernels/ops.hpp"

// Turns a CUDA error into an OpError that names the call and the source line.
#define CUDA_CHECK(call)                                                                         \
  do {                                                                                           \
    const cudaError_t err_ = (call);                                                             \
    if (err_ != cudaSuccess)                                                                     \
      throw ::costcurve::OpError(std::string(#call) + ": " + cudaGetErrorString(err_) + " at " + \
                                 __FILE__ + ":" + std::to_string(__LINE__));                     \
  } while (0)
