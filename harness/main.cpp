// costcurve: measure long-context attention kernels and price them per million tokens.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <iostream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cost_model/cost.hpp"
#include "harness/analytic.hpp"
#include "harness/build_info.hpp"
#include "harness/ceilings.hpp"
#include "harness/devices.hpp"
#include "harness/merge.hpp"
#include "harness/results.hpp"
#include "harness/slurm_cli.hpp"
#include "harness/sweep.hpp"
#include "harness/validate.hpp"
#include "kernels/backend.hpp"
#include "reports/compare.hpp"
#include "reports/report.hpp"

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
  costcurve sweep S.json --shard I/N --out part-I.json
                                             one of N shards, balanced by predicted cost
  costcurve merge part-*.json --out S.json   join the shards (exit 1 if points are missing)
  costcurve sweep S.json --devices 0,1,2,3   one shard per GPU, in parallel, merged at the end
  costcurve slurm S.json --shards 16 --submit --wait
                                             the shards as a Slurm job array, then merged
  costcurve ceilings                         measure this machine's GEMM and copy ceilings
  costcurve cost results/X.json --hardware cpu-epyc-2core --price cpu-epyc-2core \
                 --deployment single-cpu     price the measured curves per million tokens
  costcurve report results/X.json --cost results/X.cost.json --out report
                                             plots, index.html and summary.md
  costcurve compare BASELINE.json CURRENT.json
                                             nightly verdict: exits 1 on a regression
  tools/nightly.sh                           sweep, compare, re-measure flagged points, report

Exit codes: 0 success, 1 the work ran and something failed, 2 bad arguments or input
(including an output file that cannot be written: the previous file is left as it was).
)";

// Every backend costcurve knows, built into this binary or not: asking for one that was not built
// gets make_backend's message saying how to build it, rather than a bare "not in {cpu}".
const std::vector<std::string> kKnownBackends = {"cpu", "cuda"};

struct Common {
  std::string backend = "cpu";
  int threads = 0;
};

void add_backend_options(CLI::App* cmd, Common& c) {
  cmd->add_option("--backend,-b", c.backend, "Backend to run on")
      ->check(CLI::IsMember(kKnownBackends))
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
  for (const auto& [dtype, rate] : ceil.gemm_flops) {
    const auto shape = ceil.gemm_shapes.find(dtype);
    std::cout << "gemm " << dtype << " ("
              << (shape != ceil.gemm_shapes.end() ? shape->second : ceil.gemm_shape)
              << "): " << rate / 1e9 << " GFLOP/s\n";
  }
  std::cout << "copy (" << ceil.copy_size << ", read + write): " << ceil.copy_bytes_per_s / 1e9
            << " GB/s\n";
  if (ceil.has_cache_flush) {
    const costcurve::CacheFlushCheck& f = ceil.cache_flush;
    std::cout << "cache flush (" << f.bytes / double(1 << 20)
              << " MiB copy, 30% of the cache): hot " << f.hot_s * 1e6 << " us, cold "
              << f.cold_s * 1e6 << " us, cold/hot " << f.cold_over_hot << "\n";
  } else {
    std::cout << "cache flush: not checked (the backend does not report its cache size)\n";
  }
  if (!out.empty()) {
    costcurve::write_atomic(out, ceil.to_json().dump(1) + "\n");
    std::cout << "written to " << out << "\n";
  }
  return 0;
}

struct CostArgs {
  std::vector<std::string> results, models, requests;
  std::string hardware, price, tier, deployment, measured_on, out, csv, calibrate;
  std::string specs = "scenarios";
  std::string scenario;  // with --analytic
  double analytic = 0;   // efficiency of the analytic roofline; 0: use measured results
  std::int64_t max_position = 131072, step = 1024;
  bool from_ceilings = false;
};

int cmd_cost(const CostArgs& a) {
  using namespace costcurve;
  CostInputs in;
  CostOptions opt;
  for (const std::string& r : a.results) in.results.push_back(load_results(r));
  in.hardware = load_hardware(resolve_spec(a.hardware, "hardware", a.specs));
  if (a.analytic > 0) {
    if (a.scenario.empty() || !a.results.empty())
      throw InputError(
          "--analytic prices a --scenario's points at the roofline of --hardware; "
          "give a --scenario and no results files");
    RooflineMachine m;
    m.name = in.hardware.name;
    m.efficiency = a.analytic;
    m.bandwidth = in.hardware.memory_bandwidth;
    for (DType t : {DType::f32, DType::bf16, DType::fp8_e4m3})
      if (in.hardware.flops(t) > 0) m.flops[std::string(dtype_name(t))] = in.hardware.flops(t);
    in.results.push_back(analytic_results(load_scenario(a.scenario), m));
  } else if (a.results.empty()) {
    throw InputError("give results files from `costcurve sweep`, or --analytic with --scenario");
  }
  std::vector<std::string> models = a.models;
  if (models.empty()) {  // the models the results measured
    std::set<std::string> seen;
    for (std::size_t r = 0; r < in.results.size(); ++r)
      for (std::size_t i = 0; i < in.results[r].points.size(); ++i) {
        const std::string& m = in.results[r].points[i].point.model;
        if (!seen.insert(m).second) continue;
        // Looked up as <specs>/models/<name>.json: a name from a file must not be a path.
        if (!valid_name(m) || m.ends_with(".json"))
          input_error(r < a.results.size() ? a.results[r] : a.scenario,
                      "$.costcurve.points[" + std::to_string(i) + "].model",
                      "expected a model name of letters, digits, '.', '_' and '-' (looked up as " +
                          (std::filesystem::path(a.specs) / "models" / "<name>.json").string() +
                          "), got " + describe_value(m));
        models.push_back(m);
      }
  }
  for (const std::string& m : models)
    in.models.push_back(load_model(resolve_spec(m, "models", a.specs)));
  in.pricing = load_pricing(resolve_spec(a.price, "pricing", a.specs));
  in.deployment = load_deployment(resolve_spec(a.deployment, "deployments", a.specs));
  if (!a.measured_on.empty())
    opt.measured_on = load_hardware(resolve_spec(a.measured_on, "hardware", a.specs));
  if (a.from_ceilings && a.measured_on.empty())
    throw InputError("--from-ceilings changes a projection: give --measured-on too");
  opt.from_measured_ceilings = a.from_ceilings;
  if (!a.calibrate.empty())
    opt.calibration = load_calibration(resolve_spec(a.calibrate, "calibration", a.specs));
  opt.tier = a.tier;
  opt.max_position = a.max_position;
  opt.step = a.step;
  for (const std::string& r : a.requests) {
    const auto colon = r.find(':');
    std::int64_t i = 0, o = 0;
    try {
      if (colon == std::string::npos) throw std::invalid_argument(r);
      i = std::stoll(r.substr(0, colon));
      o = std::stoll(r.substr(colon + 1));
    } catch (const std::exception&) {
      throw InputError("--request " + r + ": expected INPUT:OUTPUT token counts, e.g. 32768:1024");
    }
    if (i < 1 || o < 0 || i + o > (std::int64_t{1} << 22))
      throw InputError("--request " + r +
                       ": expected 1 <= INPUT and 0 <= OUTPUT, at most 4M tokens");
    opt.requests.emplace_back(i, o);
  }
  const nlohmann::json cost = compute_cost(in, opt);
  if (cost["projection"].is_object())
    for (const auto& w : cost["projection"]["warnings"])
      std::cerr << "costcurve cost: warning: " << w.get<std::string>() << "\n";
  const std::string text = cost.dump(1) + "\n";
  if (a.out.empty())
    std::cout << text;
  else
    write_atomic(a.out, text);
  if (!a.csv.empty()) write_atomic(a.csv, cost_csv(cost));
  if (!a.out.empty()) {
    for (const auto& [k, v] : cost["crossovers"].items())
      std::cout << k << ": " << v.dump() << "\n";
    if (cost.contains("calibration"))
      std::cout << "calibration: " << cost["calibration"].dump() << "\n";
    for (const auto& r : cost.value("sparse_dense_ratio", nlohmann::json::array()))
      std::cout << "sparse/dense " << r["phase"].get<std::string>() << " at " << r["position"]
                << ": " << r["ratio"].get<double>() << "\n";
    std::cout << "written to " << a.out << "\n";
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
      "fail validation as failed, and the sweep goes on. --shard I/N runs one of N parts balanced "
      "by "
      "predicted cost (join them with `costcurve merge`); --devices runs every part at once, one "
      "per device, and merges them.");
  sweep->add_option("scenario", sweep_opt.scenario, "Scenario file, e.g. scenarios/smoke.json")
      ->required();
  sweep->add_option("--backend,-b", sweep_opt.backend, "Backend (default: the scenario's first)")
      ->check(CLI::IsMember(kKnownBackends));
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
  sweep->add_option("--shard", sweep_opt.shard,
                    "Run only shard I of N (I/N, from 0/N to N-1/N) of the points --filter "
                    "selects: points go to shards by predicted cost (roofline on a nominal "
                    "machine), largest first, each to the least-loaded shard. The results file "
                    "records which shard it is; join the parts with `costcurve merge`");
  std::string sweep_devices;
  auto* devices_opt = sweep->add_option(
      "--devices", sweep_devices,
      "Run one shard per device in parallel, e.g. 0,1,2,3 (CUDA ordinals; each "
      "child gets CUDA_VISIBLE_DEVICES; with --backend cpu, one process each): parts "
      "<out>.shard-I-of-N.json with logs beside them, merged into --out at the end. "
      "--resume resumes every shard");

  std::vector<std::string> merge_parts;
  std::string merge_out;
  auto* merge = app.add_subcommand(
      "merge",
      "Join the results files of a sharded sweep (`sweep --shard I/N`) into one, in the "
      "scenario's point order. The parts must come from the same scenario, build and backend, and "
      "no point may be in two of them (exit 2, naming the file or point). Points of the sweep "
      "that are in no part are listed and the exit code is 1, but the merged file is written; 0 "
      "when complete. Failed and skipped points are carried as they are.");
  merge->add_option("parts", merge_parts, "Results files of the shards")->required();
  merge->add_option("--out,-o", merge_out, "Merged results file (written atomically)")->required();

  std::string ceilings_out;
  auto* ceilings = app.add_subcommand(
      "ceilings",
      "Measure this machine's ceilings: GEMM rate per dtype and memory copy bandwidth "
      "(the roofline every point is judged against; sweeps record them too).");
  add_backend_options(ceilings, common);
  ceilings->add_option("--out,-o", ceilings_out, "Also write them as JSON to this file");

  CostArgs cost_args;
  auto* cost = app.add_subcommand(
      "cost",
      "Price measured attention curves per million tokens at every context position, prefill and "
      "decode, with a breakdown by component, a p10-p90 band, the sparse/dense crossovers and "
      "ratios, and (with --measured-on) a roofline projection to hardware that was not measured. "
      "Specs are names under --specs (e.g. --hardware h800-sxm) or paths to JSON files.");
  cost->add_option("results", cost_args.results,
                   "Results files from `costcurve sweep`. Each component (dense attention, "
                   "indexer, top-k, sparse attention) is taken from the series that best matches "
                   "the model and deployment (top-k, decode batch, dtype); among equally good "
                   "ones, from the first file listed: list a re-sweep of some operations first "
                   "to override those alone");
  cost->add_option("--analytic", cost_args.analytic,
                   "No measurement: time every point of --scenario at the roofline of --hardware "
                   "divided by this efficiency, e.g. 0.6")
      ->check(CLI::Range(0.0, 1.0));
  cost->add_option("--scenario", cost_args.scenario, "Scenario whose points --analytic prices");
  cost->add_option("--model", cost_args.models,
                   "Model variants to price (default: those the results measured)");
  cost->add_option("--hardware", cost_args.hardware, "Hardware to price, e.g. h800-sxm")
      ->required();
  cost->add_option("--price", cost_args.price, "Pricing spec, e.g. h800")->required();
  cost->add_option("--tier", cost_args.tier, "Price tier (default: the pricing's default)");
  cost->add_option("--deployment", cost_args.deployment, "Deployment, e.g. deepseek-h800")
      ->required();
  cost->add_option("--measured-on", cost_args.measured_on,
                   "Hardware the results were measured on; when it differs from --hardware, each "
                   "component is projected by the ratio of its roofline floors (a kernel keeps "
                   "the fraction of the roofline it reached); warns where the results' measured "
                   "ceilings differ from this spec by more than a quarter");
  cost->add_flag("--from-ceilings", cost_args.from_ceilings,
                 "Project from the ceilings the results measured (GEMM, copy) instead of "
                 "--measured-on's spec numbers: for machines whose spec is itself a measurement of "
                 "a machine class, such as the CPU entries, when this host differs from it");
  cost->add_option("--request", cost_args.requests,
                   "Also price a request of INPUT:OUTPUT tokens (repeatable), e.g. 32768:1024");
  cost->add_option("--calibrate", cost_args.calibrate,
                   "Compare decode throughput with a published measurement and fit the "
                   "non-attention efficiency to it, e.g. deepseek-v3-h800-2025-02");
  cost->add_option("--out,-o", cost_args.out, "Write the JSON here (default: stdout)");
  cost->add_option("--csv", cost_args.csv, "Also write the per-position rows as CSV");
  cost->add_option("--specs", cost_args.specs, "Directory of specs")->capture_default_str();
  cost->add_option("--max-position", cost_args.max_position, "Largest position of the curves")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 22))
      ->capture_default_str();
  cost->add_option("--step", cost_args.step, "Spacing of the curves' positions")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 22))
      ->capture_default_str();

  costcurve::ReportOptions report_opt;
  std::vector<std::string> report_results, report_costs;
  std::string report_out = "report";
  auto* report = app.add_subcommand(
      "report",
      "Write plots (PNG and SVG through gnuplot), a self-contained index.html, summary.md and the "
      "CSV data behind every plot: cost curves with their band, kernel throughput against the "
      "measured ceilings, sparse/dense speedup with the crossovers, the cost breakdown, and a "
      "hardware comparison of every --cost file. Without gnuplot it writes the data and scripts.");
  report->add_option("results", report_results, "Results files from `costcurve sweep`");
  report->add_option("--cost", report_costs, "Outputs of `costcurve cost` (repeatable)");
  report->add_option("--out,-o", report_out, "Output directory")->capture_default_str();
  report->add_option("--gnuplot", report_opt.gnuplot, "gnuplot executable (default: on PATH)");

  std::string cmp_base, cmp_cur, cmp_threshold = "5%", cmp_alpha = "0.05", cmp_md, cmp_json,
                                 cmp_rerun;
  auto* compare = app.add_subcommand(
      "compare",
      "Compare two results files point by point, as a nightly job needs: a point regresses when "
      "its median got slower by more than --threshold AND a two-sided Mann-Whitney U test over "
      "the repetitions gives p < --alpha (so use >= 5 repetitions per point); a curve whose "
      "slowdown appears only at positions >= 64K is flagged too. Points added or removed are "
      "listed, not errors. Exits 1 on a regression, 0 otherwise, 2 on bad input.");
  compare->add_option("baseline", cmp_base, "Results file of the last good run")->required();
  compare->add_option("current", cmp_cur, "Results file to judge")->required();
  compare->add_option("--threshold", cmp_threshold, "Smallest change that counts, e.g. 5% or 0.05")
      ->capture_default_str();
  compare->add_option("--alpha", cmp_alpha, "Significance level of the U test")
      ->capture_default_str();
  compare->add_option("--markdown", cmp_md, "Also write the verdict as Markdown");
  compare->add_option("--json", cmp_json, "Also write the verdict as JSON");
  compare->add_option(
      "--rerun-filter", cmp_rerun,
      "Write a `sweep --filter` regex of the regressed points (empty file if none), "
      "to measure them again in a fresh process before believing them");

  std::vector<std::string> cmp_also;
  compare->add_option(
      "--also-baseline", cmp_also,
      "Another results file of the baseline's build, measured in another process (repeatable): "
      "its repetitions join the baseline's, so that one process's luck does not set the bar");
  std::vector<std::string> cmp_beside;
  compare->add_option(
      "--beside", cmp_beside,
      "The baseline's build swept again beside CURRENT, on the same machine at the same time "
      "(repeatable, pooled; tools/nightly.sh's confirmation): a point is a regression only if it "
      "is slower than these too, so that the machine drifting since the baseline was measured "
      "is not blamed on the code");

  const costcurve::SlurmCommand slurm = costcurve::add_slurm_command(app);

  app.add_subcommand("version", "Print the version, git SHA, compiler, flags and backends.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }

  try {
    if (*validate) return cmd_validate(common, seed, ops);
    if (*sweep)
      return devices_opt->count() == 0
                 ? costcurve::run_sweep(sweep_opt, std::cout)
                 : costcurve::run_devices(sweep_opt, sweep_devices, std::cout);
    if (*merge) {
      std::vector<std::filesystem::path> parts(merge_parts.begin(), merge_parts.end());
      return costcurve::run_merge(parts, merge_out, std::cout);
    }
    if (*ceilings) return cmd_ceilings(common, ceilings_out);
    if (*slurm.cmd) return slurm.run();
    if (*cost) return cmd_cost(cost_args);
    if (*compare) {
      costcurve::CompareOptions o;
      o.threshold = costcurve::parse_fraction(cmp_threshold, "--threshold");
      o.alpha = costcurve::parse_fraction(cmp_alpha, "--alpha");
      const std::vector<std::filesystem::path> also(cmp_also.begin(), cmp_also.end()),
          beside(cmp_beside.begin(), cmp_beside.end());
      return costcurve::run_compare(cmp_base, cmp_cur, o, cmp_md, cmp_json, std::cout, cmp_rerun,
                                    also, beside);
    }
    if (*report) {
      for (const auto& r : report_results) report_opt.results.emplace_back(r);
      for (const auto& c : report_costs) report_opt.costs.emplace_back(c);
      report_opt.out_dir = report_out;
      return costcurve::run_report(report_opt, std::cout);
    }
    return cmd_version();
  } catch (const costcurve::InputError& e) {
    std::cerr << "costcurve: " << e.what() << "\n";
    return kExitUsage;
  } catch (const costcurve::OpError& e) {
    std::cerr << "costcurve: " << e.what() << "\n";
    return kExitUsage;
  } catch (const costcurve::OutputError& e) {  // an --out that cannot be written: a bad argument
    std::cerr << "costcurve: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "costcurve: unexpected error: " << e.what() << "\n";
    return kExitFailed;
  }
}
