// Shared helpers for the kernel tests: fresh seeds, backends by name, host <-> backend arrays.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "harness/scoped_env.hpp"
#include "kernels/backend.hpp"

namespace costcurve::test {

// A fresh seed per call, unless COSTCURVE_SEED pins it; tests print it so a failure reproduces.
inline std::uint64_t fresh_seed() {
  if (const char* s = std::getenv("COSTCURVE_SEED")) return std::strtoull(s, nullptr, 10);
  static std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) | rd();
}

// A batch of sequences of the given lengths, s_q query tokens each, in caches of `capacity`.
inline Batch ragged(std::int64_t s_q, std::vector<std::int64_t> lens, std::int64_t capacity) {
  Batch b;
  b.s_q = s_q;
  b.seq_lens = std::move(lens);
  b.capacity = capacity;
  return b;
}

// The backend for a parameterised test, or nullptr (with the reason) when it cannot run here.
inline std::unique_ptr<Backend> backend_or_skip(const std::string& name, std::string& why) {
  try {
    return make_backend(name, 0);
  } catch (const std::exception& e) {
    why = e.what();
    return nullptr;
  }
}

// Skips when the backend cannot run here or does not provide `op` in f32 yet.
#define COSTCURVE_BACKEND_WITH_OP_OR_SKIP(var, name, op) \
  COSTCURVE_BACKEND_OR_SKIP(var, name);                  \
  if (!var->supports(op, ::costcurve::DType::f32))       \
  GTEST_SKIP() << name << " has no f32 " << ::costcurve::op_name(op)

#define COSTCURVE_BACKEND_OR_SKIP(var, name)                      \
  std::string why_##var;                                          \
  auto var = ::costcurve::test::backend_or_skip(name, why_##var); \
  if (!var) GTEST_SKIP() << why_##var

// Host data mirrored in backend memory.
template <class T>
struct Mirror {
  Backend& be;
  std::vector<T> host;
  Buffer dev;
  Mirror(Backend& b, std::vector<T> h)
      : be(b), host(std::move(h)), dev(b, host.size() * sizeof(T)) {
    be.upload(dev.as<void>(), host.data(), host.size() * sizeof(T));
  }
  T* ptr() { return dev.as<T>(); }
  std::vector<T>& fetch() {
    be.download(host.data(), dev.as<void>(), host.size() * sizeof(T));
    return host;
  }
};

using costcurve::ScopedEnv;  // harness/scoped_env.hpp

inline std::vector<float> nan_vector(std::size_t n) {
  return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN());
}

// A fresh, empty directory for one test (removed first if a crashed run left it).
inline std::filesystem::path temp_dir(const std::string& name) {
  const std::filesystem::path d = std::filesystem::temp_directory_path() /
                                  ("costcurve-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

inline std::vector<std::string> test_backends() {
  return {"cpu", "cuda"};
}

}  // namespace costcurve::test
