// Google Benchmark timings of every CPU operation across context lengths, with the OpenBLAS sgemm
// rate measured in the same run as the ceiling that dense prefill is judged against.
//
//   costcurve_bench [--threads N] [google benchmark flags, e.g. --benchmark_filter=dense]
//
// Every operation is validated against the float64 reference (at small shapes) before anything is
// timed; a failure aborts the run.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <string>

#include "harness/build_info.hpp"
#include "harness/validate.hpp"

namespace {

using namespace costcurve;

Backend* g_backend = nullptr;

void run_problem(benchmark::State& st, ProblemSpec spec) {
  auto p = make_problem(spec, *g_backend);
  p->setup(12345);
  p->run();  // warm-up: page in inputs, fault in scratch
  for (auto _ : st) {
    p->run();
    g_backend->synchronize();
  }
  st.counters["FLOP/s"] =
      benchmark::Counter(p->flops(), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["B/s"] = benchmark::Counter(p->bytes(), benchmark::Counter::kIsIterationInvariantRate,
                                          benchmark::Counter::OneK::kIs1024);
  st.SetLabel(spec.describe());
}

void add(const std::string& name, const ProblemSpec& s) {
  benchmark::RegisterBenchmark(name.c_str(), run_problem, s)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
}

void register_all() {
  for (long n : {1024L, 2048L}) {
    ProblemSpec s;
    s.op = Op::gemm;
    s.m = s.n = s.k = n;
    add("gemm/" + std::to_string(n), s);
  }
  for (long L : {1024L, 4096L, 16384L}) {
    ProblemSpec s;
    s.op = Op::dense_prefill;
    s.batch = Batch::prefill_chunk(L - 256, 256);
    add("dense_prefill/chunk256/L" + std::to_string(L), s);
  }
  for (long L : {4096L, 32768L}) {
    ProblemSpec s;
    s.op = Op::dense_decode;
    s.batch = Batch::uniform(2, 2, L);
    add("dense_decode/B2/s_q2/L" + std::to_string(L), s);
  }
  for (long L : {4096L, 32768L, 131072L}) {
    ProblemSpec s;
    s.op = Op::indexer;
    s.batch = Batch::uniform(4, 2, L);
    add("indexer_decode/B4/s_q2/L" + std::to_string(L), s);
    s.op = Op::topk;
    add("topk_decode/B4/s_q2/L" + std::to_string(L), s);
    s.op = Op::sparse_decode;
    add("sparse_decode/B4/s_q2/L" + std::to_string(L), s);
  }
  for (long L : {4096L, 32768L}) {
    ProblemSpec s;
    s.op = Op::indexer;
    s.batch = Batch::prefill_chunk(L - 128, 128);
    add("indexer_prefill/chunk128/L" + std::to_string(L), s);
    s.op = Op::sparse_prefill;
    add("sparse_prefill/chunk128/L" + std::to_string(L), s);
  }
}

// Prints the console table and, at the end, dense prefill's best rate against sgemm's.
class RatioReporter : public benchmark::ConsoleReporter {
public:
  // Colour only on a terminal: logs and CI get plain text.
  RatioReporter() : ConsoleReporter(isatty(fileno(stdout)) ? OO_ColorTabular : OO_Tabular) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      const auto it = r.counters.find("FLOP/s");
      if (it == r.counters.end() || r.run_type != Run::RT_Iteration) continue;
      const std::string name = r.benchmark_name();
      const std::string op = name.substr(0, name.find('/'));
      best_[op] = std::max(best_[op], static_cast<double>(it->second));
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    if (best_.count("gemm") && best_.count("dense_prefill")) {
      const double g = best_["gemm"], d = best_["dense_prefill"];
      std::printf("\nsgemm (OpenBLAS) %.1f GFLOP/s; dense_prefill %.1f GFLOP/s = %.0f%% of sgemm\n",
                  g / 1e9, d / 1e9, 100.0 * d / g);
    }
  }

private:
  std::map<std::string, double> best_;
};

}  // namespace

int main(int argc, char** argv) {
  int threads = 0;
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--threads=", 10) == 0) threads = std::atoi(argv[i] + 10);
  benchmark::Initialize(&argc, argv);
  auto be = make_backend("cpu", threads);
  g_backend = be.get();

  const auto rows = run_validation(*be, validation_suite(), 7);
  if (!print_validation(std::cout, rows)) {
    std::cerr << "costcurve_bench: validation failed; refusing to time wrong kernels\n";
    return 1;
  }
  const auto& b = build_info();
  benchmark::AddCustomContext("costcurve_git", b.git_sha);
  benchmark::AddCustomContext("costcurve_flags", b.flags);
  benchmark::AddCustomContext("device", be->info().device);

  register_all();
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
