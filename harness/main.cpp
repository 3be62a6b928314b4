// costcurve: measure long-context attention kernels and price them per million tokens.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "harness/build_info.hpp"
#include "harness/ceilings.hpp"
#include "harness/results.hpp"
#include "harness/sweep.hpp"
#include "harness/validate.hpp"
#include "kernels/backend.hpp"

namespace {

constexpr int kExitFailed = 1;  // the work ran and something in it failed
constexpr int kExitUsage = 2;   // bad arguments or input

const char* kOverview = R"(costcurve measures the attention kernels behind long-context LLM serving
(DeepSeek-V3.2's sparse attention against V3.1's dense MLA) and turns them into cost per
million tokens.

Operations (DeepSeek-V3.2 shapes by default):
  dense_prefill   causal MHA over a prefill chunk: 128 heads, q/k 192, v 128
  dense_decode    MLA in MQA mode: 128 heads against one shared 576-dim latent per token
  indexer         lightning indexer logits: 64 heads x 128 dims, ReLU, weighted head sum
  topk            the 2048 best-scoring visible positions per query
  sparse_prefill  MQA attention over each query's top-k positions (prefill chunk)
  sparse_decode   the same for a decode batch
  gemm            dense matrix multiply, the building block of the non-attention cost

Workflow:
  costcurve validate                         check every kernel against a float64 reference
  costcurve sweep scenarios/smoke.json       measure a scenario's points; writes results/*.json
  costcurve ceilings                         measure this machine's GEMM and copy ceilings

Exit codes: 0 success, 1 the work ran and something failed, 2 bad arguments or input.
)";

struct Common {
  std::string backend = "cpu";
  int threads = 0;
};

void add_backend_options(CLI::App* cmd, Common& c) {
  cmd->add_option("--backend,-b", c.backend, "Backend to run on")
      ->check(CLI::IsMember(costcurve::backend_names()))
      ->capture_default_str();
  cmd->add_option("--threads,-t", c.threads, "CPU threads (0 = all cores)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
}

int cmd_validate(const Common& c, std::uint64_t seed, const std::vector<std::string>& ops) {
  using namespace costcurve;
  auto be = make_backend(c.backend, c.threads);
  std::vector<ProblemSpec> specs;
  for (const ProblemSpec& s : validation_suite())
    if (ops.empty() || std::find(ops.begin(), ops.end(), op_name(s.op)) != ops.end())
      specs.push_back(s);
  const BackendInfo info = be->info();
  std::cout << "validating on " << info.name << ": " << info.device << ", seed " << seed << "\n\n";
  const bool ok = print_validation(std::cout, run_validation(*be, specs, seed));
  std::cout << "\n"
            << (ok ? "all operations match the float64 reference" : "VALIDATION FAILED") << "\n";
  return ok ? 0 : kExitFailed;
}

int cmd_ceilings(const Common& c, const std::string& out) {
  auto be = costcurve::make_backend(c.backend, c.threads);
  std::cout << "measuring " << be->info().device << " ...\n";
  const costcurve::Ceilings ceil = costcurve::measure_ceilings(*be);
  for (const auto& [dtype, rate] : ceil.gemm_flops)
    std::cout << "gemm " << dtype << " (" << ceil.gemm_shape << "): " << rate / 1e9 << " GFLOP/s\n";
  std::cout << "copy (" << ceil.copy_size << ", read + write): " << ceil.copy_bytes_per_s / 1e9
            << " GB/s\n";
  if (!out.empty()) {
    costcurve::write_atomic(out, ceil.to_json().dump(1) + "\n");
    std::cout << "written to " << out << "\n";
  }
  return 0;
}

int cmd_version() {
  const auto& b = costcurve::build_info();
  std::cout << "costcurve " << b.version << "\n"
            << "git        " << b.git_sha << "\n"
            << "compiler   " << b.compiler << "\n"
            << "flags      " << b.flags << " (" << b.build_type << ")\n"
            << "backends   ";
  for (const auto& n : costcurve::backend_names()) std::cout << n << " ";
  std::cout << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{kOverview, "costcurve"};
  app.require_subcommand(1);
  app.fallthrough();

  Common common;
  std::uint64_t seed = std::random_device{}();
  std::vector<std::string> ops;
  std::vector<std::string> op_names;
  for (auto op : costcurve::kAllOps) op_names.emplace_back(costcurve::op_name(op));

  auto* validate = app.add_subcommand(
      "validate",
      "Run every operation once at small, awkward shapes and compare with a float64 "
      "reference; prints a pass/fail table and exits 1 if anything fails.");
  add_backend_options(validate, common);
  validate->add_option("--seed", seed, "Seed for the random inputs (default: fresh each run)");
  validate->add_option("--op", ops, "Only these operations (repeatable)")
      ->check(CLI::IsMember(op_names));

  costcurve::SweepOptions sweep_opt;
  std::string sweep_backend;
  auto* sweep = app.add_subcommand(
      "sweep",
      "Measure every point of a scenario: each is validated against the float64 reference (sampled "
      "rows at long contexts), then timed through Google Benchmark until its noise target is met. "
      "The results file is rewritten atomically after every point; --resume continues an "
      "interrupted sweep. Points that do not fit in memory are recorded as skipped, points that "
      "fail validation as failed, and the sweep goes on.");
  sweep->add_option("scenario", sweep_opt.scenario, "Scenario file, e.g. scenarios/smoke.json")
      ->required();
  sweep->add_option("--backend,-b", sweep_opt.backend, "Backend (default: the scenario's first)")
      ->check(CLI::IsMember(costcurve::backend_names()));
  sweep->add_option("--threads,-t", sweep_opt.threads, "CPU threads (0 = all cores)")
      ->check(CLI::NonNegativeNumber);
  sweep->add_option("--out,-o", sweep_opt.out,
                    "Results file (default: results/<scenario>.<backend>.json)");
  sweep->add_option("--filter", sweep_opt.filter,
                    "Only points whose name matches this regex, e.g. 'indexer/decode'");
  sweep->add_flag("--resume", sweep_opt.resume,
                  "Continue an existing results file: finished points are kept, the rest run");
  sweep->add_flag("--force", sweep_opt.force,
                  "With --resume: accept a file from another build or scenario version");
  sweep->add_flag("--dry-run", sweep_opt.dry_run,
                  "List the points with their FLOPs, bytes moved and memory; run nothing");
  sweep->add_option("--seed", sweep_opt.seed, "Seed for the random inputs")->capture_default_str();

  std::string ceilings_out;
  auto* ceilings = app.add_subcommand(
      "ceilings",
      "Measure this machine's ceilings: GEMM rate per dtype and memory copy bandwidth "
      "(the roofline every point is judged against; sweeps record them too).");
  add_backend_options(ceilings, common);
  ceilings->add_option("--out,-o", ceilings_out, "Also write them as JSON to this file");

  app.add_subcommand("version", "Print the version, git SHA, compiler, flags and backends.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }

  try {
    if (*validate) return cmd_validate(common, seed, ops);
    if (*sweep) return costcurve::run_sweep(sweep_opt, std::cout);
    if (*ceilings) return cmd_ceilings(common, ceilings_out);
    return cmd_version();
  } catch (const costcurve::OpError& e) {
    std::cerr << "costcurve: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "costcurve: unexpected error: " << e.what() << "\n";
    return kExitFailed;
  }
}
