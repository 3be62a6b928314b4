#include "harness/sweep.hpp"

#include <benchmark/benchmark.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <memory>
#include <new>
#include <optional>
#include <ostream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "harness/build_info.hpp"
#include "harness/progress.hpp"
#include "harness/results.hpp"
#include "harness/shard.hpp"

extern char** environ;

namespace costcurve {
namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

// Collects the per-repetition times Google Benchmark measured (manual time: the backend's clock).
class Collector : public benchmark::BenchmarkReporter {
public:
  std::vector<double> samples;
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs)
      if (r.run_type == Run::RT_Iteration && r.iterations > 0)
        samples.push_back(r.real_accumulated_time / static_cast<double>(r.iterations));
  }
};

void init_benchmark_library() {
  static const bool done = [] {
    int argc = 1;
    char arg0[] = "costcurve";
    char* argv[] = {arg0, nullptr};
    benchmark::Initialize(&argc, argv);
    return true;
  }();
  (void)done;
}

struct Timing {
  std::vector<double> samples;
  std::int64_t iterations = 1;
  StopReason reason = StopReason::more;
  std::string error;
};

// Warm-up, then repetitions through Google Benchmark until the stop rule says enough. Iterations
// per repetition are batched so that one repetition lasts about min_time_s. Run i uses input set
// i % sets.size(). Running out of memory throws std::bad_alloc (the point is skipped, not failed).
Timing time_point(Backend& be, const std::vector<std::unique_ptr<Problem>>& sets,
                  const std::string& name, const RunSettings& rs) {
  Timing t;
  std::size_t next = 0;
  // A cold run flushes the caches first, outside the timed region.
  const auto once = [&] {
    Problem& p = *sets[next++ % sets.size()];
    if (rs.cold) be.flush_caches();
    return be.time([&] { p.run(); });
  };
  for (int i = 0; i < rs.warmup_runs; ++i) once();
  const double first = once();
  t.iterations = std::clamp<std::int64_t>(
      static_cast<std::int64_t>(std::ceil(rs.min_time_s / std::max(first, 1e-9))), 1, 1000000);
  const StopRule rule{rs.min_repetitions, rs.max_repetitions, rs.noise_target, rs.max_time_s};
  double spent = first;
  int reps = rs.min_repetitions;
  init_benchmark_library();
  for (;;) {
    benchmark::ClearRegisteredBenchmarks();
    std::string error;
    bool out_of_memory = false;
    benchmark::RegisterBenchmark(name.c_str(),
                                 [&](benchmark::State& st) {
                                   for (auto _ : st) {
                                     try {
                                       st.SetIterationTime(once());
                                     } catch (const std::exception& e) {
                                       out_of_memory = dynamic_cast<const std::bad_alloc*>(&e);
                                       error = e.what();
                                       st.SkipWithError(error.c_str());
                                       break;
                                     }
                                   }
                                 })
        ->UseManualTime()
        ->Iterations(t.iterations)
        ->Repetitions(reps);
    Collector c;
    benchmark::RunSpecifiedBenchmarks(&c);
    benchmark::ClearRegisteredBenchmarks();
    if (out_of_memory) throw std::bad_alloc();
    if (!error.empty()) {
      t.error = error;
      return t;
    }
    for (double s : c.samples) {
      t.samples.push_back(s);
      spent += s * t.iterations;
    }
    t.reason = should_stop(rule, t.samples, spent);
    if (t.reason != StopReason::more || c.samples.empty()) return t;
    reps = 1;
  }
}

// How many independent input sets a point's timed runs rotate over. Hot runs of one input set
// would find in the cache what the previous run left there (the whole working set, when it fits),
// and measure the cache rather than the memory a real step streams from; rotating over sets that
// together exceed the cache makes each run start from inputs that were evicted. Cold runs flush
// instead. Bounded: the copies together stay within 4x the cache, 256 MiB and the memory limit,
// and there are at most 8 (each is filled and validated).
int input_sets_for(double memory, std::size_t cache_bytes, double memory_limit, bool cold) {
  if (cold || cache_bytes == 0 || !(memory > 0)) return 1;
  const double budget =
      std::min({4.0 * static_cast<double>(cache_bytes), 256.0 * (1 << 20), memory_limit});
  return static_cast<int>(std::clamp(std::floor(budget / memory), 1.0, 8.0));
}

std::uint64_t fnv1a(const std::string& s, std::uint64_t h = 0xcbf29ce484222325ULL) {
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

std::string gib(double bytes) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(bytes < (1 << 30) ? 3 : 1) << bytes / double(1 << 30)
     << " GiB";
  return os.str();
}

std::string seconds_text(double s) {
  char buf[32];
  if (s < 1e-3)
    std::snprintf(buf, sizeof buf, "%.1f us", s * 1e6);
  else if (s < 1)
    std::snprintf(buf, sizeof buf, "%.2f ms", s * 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.2f s", s);
  return buf;
}

// Seeds of the input sets after the first (which keeps the seed a point always had).
std::uint64_t set_seed(std::uint64_t base, int set) {
  std::uint64_t z = base + 0x9e3779b97f4a7c15ULL * static_cast<std::uint64_t>(set);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

PointResult measure(Backend& be, const Scenario& sc, const Point& pt, const Ceilings& ceil,
                    double memory_limit, std::size_t cache_bytes, std::uint64_t seed) {
  PointResult r;
  r.point = pt;
  r.name = pt.name();
  r.tokens = static_cast<double>(pt.batch * pt.s_q);
  const ProblemSpec spec = pt.problem(model_of(sc, pt));
  std::vector<std::unique_ptr<Problem>> sets;
  try {
    sets.push_back(make_problem(spec, be));
  } catch (const std::exception& e) {
    r.status = PointStatus::failed;
    r.reason = std::string("bad shape: ") + e.what();
    return r;
  }
  Problem& first = *sets.front();
  r.flops = first.flops();
  r.bytes = first.bytes();
  r.memory_bytes = static_cast<double>(first.memory());
  if (!be.supports(pt.op, pt.dtype)) {
    r.status = PointStatus::skipped;
    r.reason = "backend " + pt.backend + " has no " + std::string(dtype_name(pt.dtype)) + " " +
               std::string(op_name(pt.op));
    return r;
  }
  if (r.memory_bytes > memory_limit) {
    r.status = PointStatus::skipped;
    r.reason = "needs " + gib(r.memory_bytes) + ", limit " + gib(memory_limit);
    return r;
  }
  const char* stage = "setting up the inputs";
  try {
    const std::uint64_t base = seed ^ fnv1a(r.name);
    first.setup(base);
    stage = "validating";
    first.run();
    be.synchronize();
    const Validation v = first.validate(sc.run.validate_max_gflop);
    r.validated = true;
    r.rel_l2 = v.rel_l2;
    r.tolerance = v.tolerance;
    r.tokens_checked = v.tokens_checked;
    r.tokens_total = v.tokens_total;
    if (!v.pass) {
      r.status = PointStatus::failed;
      r.reason = "validation failed: " + v.detail;
      return r;
    }
    // Every set is validated before anything is timed; the extra sets share one more reference
    // budget, so that rotation at most doubles the validation time.
    const int wanted = input_sets_for(r.memory_bytes, cache_bytes, memory_limit, sc.run.cold);
    for (int i = 1; i < wanted; ++i) {
      auto p = make_problem(spec, be);
      try {
        p->setup(set_seed(base, i));
      } catch (const std::bad_alloc&) {
        break;  // fewer sets than wanted still measure the point; no set at all would not
      }
      p->run();
      be.synchronize();
      const Validation w = p->validate(sc.run.validate_max_gflop / (wanted - 1));
      r.rel_l2 = std::max(r.rel_l2, w.rel_l2);
      if (!w.pass) {
        r.status = PointStatus::failed;
        r.reason = "validation failed on input set " + std::to_string(i + 1) + ": " + w.detail;
        return r;
      }
      sets.push_back(std::move(p));
    }
    r.input_sets = static_cast<int>(sets.size());
    stage = "timing";
    r.state_before = be.device_state();
    Timing t = time_point(be, sets, r.name, sc.run);
    r.state_after = be.device_state();
    if (!t.error.empty() || t.samples.empty()) {
      r.status = PointStatus::failed;
      r.reason = "timing failed: " + (t.error.empty() ? std::string("no samples") : t.error);
      return r;
    }
    r.samples_s = std::move(t.samples);
    r.iterations = t.iterations;
    r.summary = summarize(r.samples_s);
    r.stop_reason = stop_reason_name(t.reason);
    r.floor_s = ceil.floor_seconds(r.flops, r.bytes, compute_dtype(pt.op, pt.dtype), &r.bound);
    r.roofline_fraction = r.floor_s / r.summary.median;
    r.status = PointStatus::ok;
  } catch (const std::bad_alloc&) {
    // Like a point that does not fit, a skip: the next point may well fit. Its memory goes back
    // with `sets` before the next one starts.
    const std::size_t held = sets.size();
    sets.clear();
    r.status = PointStatus::skipped;
    r.reason =
        std::string("out of memory: ") + stage + " (" + gib(r.memory_bytes) + " per input set";
    if (held > 1) r.reason += ", " + std::to_string(held) + " sets";
    r.reason += ")";
  } catch (const std::exception& e) {
    r.status = PointStatus::failed;
    r.reason = e.what();
  }
  return r;
}

std::string outcome_line(const PointResult& r) {
  if (r.status != PointStatus::ok) return std::string(status_name(r.status)) + ": " + r.reason;
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s  %.1f GFLOP/s  %.1f GB/s  %.0f%% of roofline (%s)  cv %.1f%%",
                seconds_text(r.summary.median).c_str(), r.flops / r.summary.median / 1e9,
                r.bytes / r.summary.median / 1e9, 100 * r.roofline_fraction, r.bound.c_str(),
                100 * r.summary.cv);
  return buf;
}

nlohmann::json sweep_context(const BackendInfo& info, int threads) {
  const BuildInfo& b = build_info();
  nlohmann::json c = benchmark_context("costcurve");
  c["costcurve_version"] = b.version;
  c["git_sha"] = b.git_sha;
  c["compiler"] = b.compiler;
  c["flags"] = b.flags;
  c["build_type"] = b.build_type;
  c["backend"] = info.name;
  c["device"] = info.device;
  c["driver"] = info.driver;
  c["runtime"] = info.runtime;
  c["cache_bytes"] = info.cache_bytes;
  c["cache_flush"] = info.cache_flush;
  c["threads"] = threads;
  c["memory_total_bytes"] = info.memory_total;
  // Variables that pick a kernel other than the default (COSTCURVE_PREFILL_PORTABLE, ...): two
  // files of one build measure different code when these differ.
  nlohmann::json env = nlohmann::json::object();
  for (char** e = environ; *e; ++e) {
    const std::string_view kv(*e);
    const auto eq = kv.find('=');
    if (kv.starts_with("COSTCURVE_") && eq != std::string_view::npos &&
        !kv.starts_with("COSTCURVE_SEED=") && !kv.starts_with("COSTCURVE_GIT_SHA=")) {
      std::string v(kv.substr(eq + 1));  // printable ASCII only: the JSON writer rejects bad UTF-8
      for (char& ch : v)
        if (ch < 0x20 || ch > 0x7e) ch = '?';
      env[std::string(kv.substr(0, eq))] = v;
    }
  }
  c["kernel_env"] = std::move(env);
  return c;
}

// `predicted` (a shard's run: the nominal seconds each point was balanced by) adds a column.
int dry_run(const Scenario& sc, const std::vector<Point>& points,
            const std::vector<double>& predicted, std::ostream& out) {
  auto cpu = make_backend("cpu", 1);  // sizes only: nothing is allocated
  double flops = 0, bytes = 0, peak = 0;
  const bool with_cost = !predicted.empty();
  char line[320];
  std::snprintf(line, sizeof line, "%-64s %12s %12s %12s%s\n", "point", "GFLOP", "MB moved",
                "memory", with_cost ? "    predicted" : "");
  out << line;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const Point& pt = points[i];
    auto p = make_problem(pt.problem(model_of(sc, pt)), *cpu);
    std::snprintf(line, sizeof line, "%-64s %12.3f %12.1f %12s", pt.name().c_str(),
                  p->flops() / 1e9, p->bytes() / 1e6,
                  gib(static_cast<double>(p->memory())).c_str());
    out << line;
    if (with_cost) out << std::setw(13) << seconds_text(predicted[i]);
    out << "\n";
    flops += p->flops();
    bytes += p->bytes();
    peak = std::max(peak, static_cast<double>(p->memory()));
  }
  out << points.size() << " points, " << flops / 1e12 << " TFLOP and " << bytes / 1e9
      << " GB per timed run in all; the largest needs " << gib(peak) << "\n";
  return 0;
}

// Why a results file cannot be resumed as the shard (or whole sweep) this run is; "" if it can.
std::string shard_mismatch(const std::optional<ShardRecord>& file,
                           const std::optional<ShardRecord>& run) {
  const auto text = [](const ShardRecord& s) {
    return std::to_string(s.index) + "/" + std::to_string(s.count);
  };
  if (!file && !run) return "";
  if (!run)
    return "it is shard " + text(*file) + " of a sharded sweep (pass --shard " + text(*file) +
           ", or join the shards with `costcurve merge`)";
  if (!file) return "it is a whole sweep, not shard " + text(*run);
  if (file->index != run->index || file->count != run->count)
    return "it is shard " + text(*file) + ", not " + text(*run);
  if (file->points != run->points)
    return "it holds another selection of the points of shard " + text(*run) +
           " (another --filter or scenario version)";
  return "";
}

// A sweep killed while writing leaves "<file>.tmp.<pid>" behind; remove those whose writer is gone.
void remove_stale_temporaries(const std::filesystem::path& file) {
  const std::string prefix = file.filename().string() + ".tmp.";
  std::error_code ec;
  const std::filesystem::path dir = file.has_parent_path() ? file.parent_path() : ".";
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string pid = name.substr(prefix.size());
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (::kill(static_cast<pid_t>(std::stol(pid)), 0) != 0 && errno == ESRCH)
      std::filesystem::remove(e.path(), ec);
  }
}

}  // namespace

std::filesystem::path default_results_path(const std::string& scenario,
                                           const std::string& backend) {
  return std::filesystem::path("results") / (scenario + "." + backend + ".json");
}

int select_points(const SweepOptions& opt, Scenario& sc, std::vector<Point>& points,
                  std::ostream& out) {
  try {
    sc = load_scenario(opt.scenario);
  } catch (const InputError& e) {
    out << "costcurve sweep: " << e.what() << "\n";
    return kExitUsage;
  }
  sc.backends = {opt.backend.empty() ? sc.backends.front() : opt.backend};
  points = generate_points(sc);
  if (opt.filter.empty()) return 0;
  std::regex re;
  try {
    re = std::regex(opt.filter, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    out << "costcurve sweep: --filter '" << opt.filter << "' is not a valid regex: " << e.what()
        << "\n";
    return kExitUsage;
  }
  std::erase_if(points, [&](const Point& p) { return !std::regex_search(p.name(), re); });
  if (points.empty()) {
    out << "costcurve sweep: --filter '" << opt.filter
        << "' matches none of the scenario's points\n";
    return kExitUsage;
  }
  return 0;
}

int run_sweep(const SweepOptions& opt, std::ostream& out) {
  Scenario sc;
  std::vector<Point> points;
  if (const int rc = select_points(opt, sc, points, out); rc != 0) return rc;
  const std::string backend = sc.backends.front();
  std::optional<ShardRecord> shard;
  std::vector<double> predicted;
  if (!opt.shard.empty()) {
    ShardSpec spec;
    try {
      spec = parse_shard(opt.shard);
    } catch (const InputError& e) {
      out << "costcurve sweep: " << e.what() << "\n";
      return kExitUsage;
    }
    const std::size_t all = points.size();
    for (const Point& p : points) predicted.push_back(predicted_seconds(sc, p));
    std::vector<std::string> names;
    for (const Point& p : points) names.push_back(p.name());
    const auto parts = split_points(predicted, names, spec.count);
    const auto& mine = parts[static_cast<std::size_t>(spec.index)];
    shard = ShardRecord{spec.index, spec.count, opt.filter, {}};
    std::vector<Point> kept;
    std::vector<double> kept_cost;
    double total = 0, share = 0;
    for (double c : predicted) total += c;
    for (std::size_t i : mine) {
      kept.push_back(points[i]);
      kept_cost.push_back(predicted[i]);
      shard->points.push_back(names[i]);
      share += predicted[i];
    }
    points = std::move(kept);
    predicted = std::move(kept_cost);
    char line[200];
    std::snprintf(line, sizeof line,
                  "shard %s: %zu of %zu points, predicted %s of %s (%.1f%%) on a nominal %s\n",
                  shard_text(spec).c_str(), points.size(), all, seconds_text(share).c_str(),
                  seconds_text(total).c_str(), total > 0 ? 100 * share / total : 0.0,
                  backend.c_str());
    out << line;
  }
  if (opt.dry_run) return dry_run(sc, points, predicted, out);

  std::unique_ptr<Backend> be;
  try {
    be = opt.backend_factory ? opt.backend_factory(backend, opt.threads)
                             : make_backend(backend, opt.threads);
  } catch (const std::exception& e) {
    out << "costcurve sweep: " << e.what() << "\n";
    return kExitUsage;
  }
  const BackendInfo info = be->info();
  const std::filesystem::path file =
      opt.out.empty() ? default_results_path(sc.name, backend) : opt.out;

  ResultsFile results;
  const std::string git = build_info().git_sha;
  if (std::filesystem::exists(file)) {
    if (!opt.resume) {
      out << "costcurve sweep: " << file.string()
          << " exists: pass --resume to continue it, or --out to write elsewhere\n";
      return kExitUsage;
    }
    try {
      results = load_results(file);
    } catch (const InputError& e) {
      out << "costcurve sweep: cannot resume: " << e.what() << "\n";
      return kExitUsage;
    }
    std::string why;
    if (results.scenario_hash != sc.hash)
      why = "it was made by another version of scenario '" + results.scenario_name + "'";
    else if (results.git_sha != git)
      why = "it was made by build " + results.git_sha + ", this is " + git;
    else if (results.backend != backend)
      why = "it was made on backend " + results.backend;
    if (!why.empty() && !opt.force) {
      out << "costcurve sweep: cannot resume " << file.string() << ": " << why
          << " (--force resumes anyway)\n";
      return kExitUsage;
    }
    // Never overridden by --force: another shard's points would end up in two parts.
    const bool same_split = results.shard && shard && results.shard->index == shard->index &&
                            results.shard->count == shard->count;
    why = shard_mismatch(results.shard, shard);
    if (!why.empty() && !(opt.force && same_split)) {
      out << "costcurve sweep: cannot resume " << file.string() << ": " << why
          << (same_split ? " (--force resumes anyway)" : "") << "\n";
      return kExitUsage;
    }
    if (shard) {  // --force onto a new selection: what left the shard is dropped
      const std::set<std::string> listed(shard->points.begin(), shard->points.end());
      std::erase_if(results.points, [&](const PointResult& r) { return !listed.count(r.name); });
    }
    out << "resuming " << file.string() << ": " << results.points.size() << " points done\n";
    remove_stale_temporaries(file);
  } else {
    std::error_code ec;
    if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
    results.scenario_name = sc.name;
    results.scenario_hash = sc.hash;
    results.scenario = nlohmann::json::parse(sc.canonical_json);
    results.git_sha = git;
    results.backend = backend;
  }
  results.shard = shard;
  results.context = sweep_context(info, info.threads);

  const auto save = [&] { write_atomic(file, results.to_json().dump(1) + "\n"); };
  try {
    check_writable(file);  // before the ceilings are measured, which takes a while
  } catch (const OutputError& e) {
    out << "costcurve sweep: " << e.what() << "\n";
    return kExitUsage;
  }
  try {
    if (!results.has_ceilings && !points.empty()) {  // a shard may have no point at all
      out << "measuring the ceilings of " << info.device << " ...\n";
      results.ceilings = measure_ceilings(*be);
      results.has_ceilings = true;
    }
    save();  // fail early when the output cannot be written
  } catch (const OutputError& e) {
    out << "costcurve sweep: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    out << "costcurve sweep: " << e.what() << "\n";
    return kExitFailed;
  }
  const Ceilings& ceil = results.ceilings;
  if (results.has_ceilings) {  // an empty shard measured none
    char line[200];
    std::snprintf(line, sizeof line, "ceilings: %.1f GFLOP/s f32 GEMM, %.1f GB/s copy",
                  ceil.peak_flops(DType::f32) / 1e9, ceil.copy_bytes_per_s / 1e9);
    out << line;
    if (ceil.has_cache_flush) {
      std::snprintf(line, sizeof line, ", cache flush check: cold/hot copy %.2f",
                    ceil.cache_flush.cold_over_hot);
      out << line;
    }
    out << "\n";
  }

  const double memory_limit = sc.run.max_memory_gib > 0 ? sc.run.max_memory_gib * double(1 << 30)
                                                        : 0.85 * info.memory_available;
  std::vector<std::size_t> todo;
  std::vector<double> weights;
  auto cpu = make_backend("cpu", 1);
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (results.find(points[i].name())) continue;
    todo.push_back(i);
    auto p = make_problem(points[i].problem(model_of(sc, points[i])), *cpu);
    const double memory = static_cast<double>(p->memory());
    // Predicted seconds: about six runs at the roofline floor (validation, warm-up, calibration,
    // repetitions), filling the inputs (every set), and a fixed overhead.
    weights.push_back(
        6 * ceil.floor_seconds(p->flops(), p->bytes(), points[i].dtype) +
        input_sets_for(memory, info.cache_bytes, memory_limit, sc.run.cold) * memory / 1e9 + 0.3);
  }
  out << todo.size() << " of " << points.size() << " points to run, results in " << file.string()
      << "\n";
  out.flush();
  Progress progress(weights, stderr, Progress::is_tty(stderr));
  for (std::size_t j = 0; j < todo.size(); ++j) {
    const Point& pt = points[todo[j]];
    progress.start(j, pt.name());
    PointResult r = measure(*be, sc, pt, ceil, memory_limit, info.cache_bytes, opt.seed);
    const std::string line_text = outcome_line(r);
    results.points.push_back(std::move(r));
    try {
      save();
    } catch (const OutputError& e) {  // the message says the previous file is unchanged
      out << "costcurve sweep: " << e.what() << "\n";
      return kExitUsage;
    } catch (const std::exception& e) {
      out << "costcurve sweep: " << e.what() << " (the previous results file is intact)\n";
      return kExitFailed;
    }
    progress.finish(j, line_text);
  }
  progress.close();

  int ok = 0, skipped = 0, failed = 0;
  for (const PointResult& r : results.points) {
    ok += r.status == PointStatus::ok;
    skipped += r.status == PointStatus::skipped;
    failed += r.status == PointStatus::failed;
  }
  out << ok << " ok, " << skipped << " skipped, " << failed << " failed -> " << file.string()
      << "\n";
  for (const PointResult& r : results.points)
    if (r.status == PointStatus::failed) out << "  FAILED " << r.name << ": " << r.reason << "\n";
  return failed ? kExitFailed : 0;
}

}  // namespace costcurve
