#include "kernels/backend.hpp"

#include <chrono>

namespace costcurve {

std::unique_ptr<Backend> make_cpu_backend(int threads);
#if COSTCURVE_HAVE_CUDA
std::unique_ptr<Backend> make_cuda_backend();
#endif

double Backend::time(const std::function<void()>& work) {
  synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  work();
  synchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<std::string> backend_names() {
#if COSTCURVE_HAVE_CUDA
  return {"cpu", "cuda"};
#else
  return {"cpu"};
#endif
}

std::unique_ptr<Backend> make_backend(const std::string& name, int threads) {
  if (name == "cpu") return make_cpu_backend(threads);
  if (name == "cuda") {
#if COSTCURVE_HAVE_CUDA
    return make_cuda_backend();
#else
    throw OpError(
        "backend 'cuda' is not compiled into this binary: reconfigure with "
        "-DCOSTCURVE_CUDA=ON on a machine with nvcc");
#endif
  }
  throw OpError("unknown backend '" + name + "' (known: cpu, cuda)");
}

}  // namespace costcurve
