// The CUDA backend: built whenever nvcc is present; on a machine without a GPU it must say so
// clearly, and these tests skip.
#include <gtest/gtest.h>

#include "kernels/backend.hpp"

namespace costcurve {
bool cuda_selftest(std::string& why);

namespace {

#if COSTCURVE_HAVE_CUDA
TEST(Cuda, TrivialKernelRunsOrSkips) {
  std::string why;
  if (!cuda_selftest(why)) GTEST_SKIP() << "no usable GPU: " << why;
  SUCCEED();
}

TEST(Cuda, BackendWithoutGpuFailsWithAClearMessage) {
  std::string why;
  if (cuda_selftest(why)) GTEST_SKIP() << "a GPU is present";
  try {
    make_backend("cuda");
    FAIL() << "make_backend(\"cuda\") succeeded without a GPU";
  } catch (const OpError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot run here"), std::string::npos) << e.what();
  }
}
#else
TEST(Cuda, NotBuilt) {
  GTEST_SKIP() << "built without the CUDA backend";
}
#endif

}  // namespace
}  // namespace costcurve
