// costcurve_probe: one operation at one shape on one backend, timed cold under several environment
// settings in one process, so that kernel variants (COSTCURVE_* switches, the seesaw kernel's
// diagnostics) are compared on one card, one input set and one build in one call. `--help` says
// how; the output is plain text, one line per variant.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "harness/build_info.hpp"
#include "harness/problem.hpp"
#include "harness/scoped_env.hpp"
#include "harness/stats.hpp"
#include "kernels/backend.hpp"

extern char** environ;

namespace {

using namespace costcurve;

constexpr int kExitFailed = 1;  // the work ran and the default variant failed its validation
constexpr int kExitUsage = 2;   // bad arguments, or an operation or setting the backend refuses

const char* kDescription =
    R"(Times one operation at one shape on one backend, cold (the caches are flushed
before every timed run), first in the environment as given ("default"), then under each
--env VAR=VALUE setting, each applied alone and undone before the next. The inputs are set
up once (one seed), so every variant sees the same data. Each variant's first run is
validated against the float64 reference (a sample of query tokens, as sweeps do): a
diagnostic variant is expected to fail and is only reported as such.

Output: a header (device, git SHA, shape), then one line per variant: median, min and max
of the timed runs in microseconds, the validation, and the median over the default's.

Example: where the seesaw MQA kernel's time goes (a bf16 cache on Hopper). The diagnostics'
outputs are wrong on purpose, so their validation FAILs:
  costcurve_probe --backend cuda --op dense_decode --len 16384 --batch 32 --sq 2 \
      --env COSTCURVE_MQA_DIAG=resident --env COSTCURVE_MQA_DIAG=nomma
  resident  keys loaded for the first pair of tiles only: the MMAs and the consumers' chain
  nomma     no MMA: the loads and the synchronisation
  neither   both: the softmax, barriers and handoffs alone
Sparse decode at 128K, top-k 2048:
  costcurve_probe --backend cuda --op sparse_decode --len 131072 --batch 32 --sq 2 \
      --top-k 2048 --env COSTCURVE_MQA_DIAG=resident --env COSTCURVE_MQA_DIAG=nomma
On the CPU (which ignores the CUDA kernels' settings):
  costcurve_probe --backend cpu --op dense_decode --len 1024 --batch 2 --runs 3

Exit codes: 0 done, 1 the default variant failed validation, 2 bad arguments, or an
operation, dtype or setting the backend refuses (its variant's line says which).
)";

struct Args {
  std::string backend = "cpu";
  int threads = 0;
  std::string op, dtype, phase;
  std::int64_t len = 0, batch = 1, sq = 1;
  int top_k = 2048;
  int runs = 20, warmup = 3;
  std::uint64_t seed = 1;
  double validate_gflop = 2;  // ScenarioRun's validate_max_gflop: what sweeps check
  std::string check = "all";  // which variants are validated: all, or the default alone
  std::vector<std::string> env;
};

struct Variant {
  std::string name;  // "default" or the VAR=VALUE setting
  std::string var, value;
};

bool valid_var_name(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

// Why `s` is no VAR=VALUE setting, or "" when it is one.
std::string setting_error(const std::string& s) {
  const auto eq = s.find('=');
  if (eq != std::string::npos && valid_var_name(s.substr(0, eq))) return "";
  return "expected VAR=VALUE with VAR a variable name (letters, digits, '_'), e.g. "
         "COSTCURVE_MQA_DIAG=resident; got '" +
         s + "'";
}

// A setting that --env's check has passed.
Variant parse_setting(const std::string& s) {
  const auto eq = s.find('=');
  return {s, s.substr(0, eq), s.substr(eq + 1)};
}

std::string all_ops() {
  std::string s;
  for (Op op : kAllOps)
    if (op != Op::gemm) s += (s.empty() ? "" : ", ") + std::string(op_name(op));
  return s;
}

// The spec, or a CLI::ValidationError naming the option at fault.
ProblemSpec make_spec(const Args& a) {
  ProblemSpec s;
  if (!parse_op(a.op, s.op) || s.op == Op::gemm)
    throw CLI::ValidationError("--op", "expected one of " + all_ops() + "; got '" + a.op + "'" +
                                           (a.op == "gemm" ? " (gemm has no sequence shape)" : ""));
  // Attention and the indexer take bf16 as sweeps do; top-k reads f32 logits.
  const std::string dtype = !a.dtype.empty() ? a.dtype : s.op == Op::topk ? "f32" : "bf16";
  if (!parse_dtype(dtype, s.dtype))
    throw CLI::ValidationError("--dtype", "expected f32, bf16 or fp8_e4m3; got '" + dtype + "'");
  const bool prefill_op = s.op == Op::dense_prefill || s.op == Op::sparse_prefill;
  const std::string phase = !a.phase.empty() ? a.phase : prefill_op ? "prefill" : "decode";
  if (phase != "prefill" && phase != "decode")
    throw CLI::ValidationError("--phase", "expected prefill or decode; got '" + phase + "'");
  if (a.sq > a.len)
    throw CLI::ValidationError("--sq", "the query tokens (" + std::to_string(a.sq) +
                                           ") are the last of each sequence: at most --len (" +
                                           std::to_string(a.len) + ")");
  if (phase == "prefill") {
    if (a.batch != 1)
      throw CLI::ValidationError("--batch", "a prefill chunk is one sequence: --batch 1");
    s.batch = Batch::prefill_chunk(a.len - a.sq, a.sq);
  } else {
    s.batch = Batch::uniform(a.batch, a.sq, a.len);
  }
  s.top_k = a.top_k;
  return s;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string sci(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2e", v);
  return buf;
}

// One row of the table: the variant's name padded to `width`, then the columns, then `tail`.
std::string row(const std::string& name, std::size_t width, const char* median, const char* min,
                const char* max, const char* ratio, const std::string& tail) {
  char cols[128];
  std::snprintf(cols, sizeof cols, " %11s %11s %11s %10s  ", median, min, max, ratio);
  return name + std::string(width - name.size(), ' ') + cols + tail;
}

std::string validation_text(const Validation& v) {
  return std::string(v.pass ? "pass" : "FAIL") + " rel_l2 " + sci(v.rel_l2) + " tol " +
         sci(v.tolerance) + " tokens " + std::to_string(v.tokens_checked) + "/" +
         std::to_string(v.tokens_total);
}

// The SM clock after a variant's runs, where the backend reads it: a variant that ran at a lower
// clock is slower for that reason.
std::string clock_text(const DeviceState& st) {
  for (const auto& [key, value] : st)
    if (key == "sm_clock_mhz") return "  sm " + fixed(value, 0) + " MHz";
  return "";
}

int probe(const Args& a) {
  const ProblemSpec spec = make_spec(a);
  std::vector<Variant> variants{{"default", "", ""}};
  for (const std::string& s : a.env) variants.push_back(parse_setting(s));

  auto be = make_backend(a.backend, a.threads);
  const BackendInfo info = be->info();
  if (!be->supports(spec.op, spec.dtype))
    throw OpError("backend " + info.name + " has no " + std::string(dtype_name(spec.dtype)) + " " +
                  std::string(op_name(spec.op)) + " (--dtype picks another)");
  auto p = make_problem(spec, *be);
  if (info.memory_available > 0 && p->memory() > static_cast<double>(info.memory_available))
    throw OpError(spec.describe() + " needs " + fixed(p->memory() / double(1 << 30), 2) +
                  " GiB of backend memory; " + fixed(info.memory_available / double(1 << 30), 2) +
                  " GiB are free");

  std::cout << "costcurve_probe: " << info.name << " backend on " << info.device << ", git "
            << build_info().git_sha << ", " << spec.describe() << "\n";
  std::cout << "# " << a.runs
            << " cold runs (flush: " << (info.cache_flush.empty() ? "backend's" : info.cache_flush)
            << ") after " << a.warmup << " warm-up, seed " << a.seed << ", validation budget "
            << a.validate_gflop << " GFLOP\n";
  // The default variant runs in this environment: say what of costcurve's it holds.
  for (char** e = environ; *e; ++e)
    if (std::string(*e).rfind("COSTCURVE_", 0) == 0) std::cout << "# environment: " << *e << "\n";
  std::size_t width = 7;
  for (const Variant& v : variants) width = std::max(width, v.name.size());
  std::cout << row("variant", width, "median_us", "min_us", "max_us", "vs_default", "validation")
            << std::endl;

  p->setup(a.seed);
  double base = 0;  // the default's median
  bool default_failed = false, refused = false;
  std::vector<std::string> notes;
  for (const Variant& v : variants) {
    std::optional<ScopedEnv> scope;  // the default variant runs in the environment as given
    if (!v.var.empty()) scope.emplace(v.var, v.value);
    std::string line;
    try {
      p->poison();
      p->run();
      be->synchronize();
      const bool checked = a.check == "all" || &v == &variants.front();
      const Validation val = checked ? p->validate(a.validate_gflop) : Validation{};
      if (checked && !val.pass && !val.detail.empty()) notes.push_back(v.name + ": " + val.detail);
      for (int i = 0; i < a.warmup; ++i) p->run();
      be->synchronize();
      std::vector<double> t;
      for (int i = 0; i < a.runs; ++i) {
        be->flush_caches();
        t.push_back(be->time([&] { p->run(); }));
      }
      const Summary s = summarize(t);
      if (&v == &variants.front()) {
        base = s.median;
        default_failed = !val.pass;
      }
      line = row(v.name, width, fixed(s.median * 1e6, 1).c_str(), fixed(s.min * 1e6, 1).c_str(),
                 fixed(s.max * 1e6, 1).c_str(), base > 0 ? fixed(s.median / base, 3).c_str() : "-",
                 (checked ? validation_text(val) : std::string("not checked (--check default)")) +
                     clock_text(be->device_state()));
    } catch (const OpError& e) {  // refused by the kernel's launcher: e.g. a bad setting's value
      refused = true;
      line = row(v.name, width, "-", "-", "-", "-", std::string("error: ") + e.what());
    }
    std::cout << line << std::endl;
  }
  for (const std::string& n : notes) std::cout << "# failed " << n << "\n";
  return refused ? kExitUsage : default_failed ? kExitFailed : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app(kDescription, "costcurve_probe");
  app.add_option("--backend,-b", a.backend, "Backend to run on")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  app.add_option("--threads,-t", a.threads, "CPU threads (0 = all cores)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--op", a.op, "Operation: " + all_ops())->required();
  app.add_option("--len,-L", a.len, "Tokens per sequence (the context length)")
      ->required()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 22));
  app.add_option("--batch,-B", a.batch, "Sequences (decode batch)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 16))
      ->capture_default_str();
  app.add_option("--sq", a.sq, "Query tokens per sequence (the last of each)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 22))
      ->capture_default_str();
  app.add_option("--phase", a.phase,
                 "decode (--batch sequences of --len tokens) or prefill (one chunk of --sq "
                 "tokens ending at --len); default: prefill for *_prefill ops, else decode");
  app.add_option("--dtype", a.dtype, "f32, bf16 or fp8_e4m3 (default: bf16; f32 for topk)");
  app.add_option("--top-k", a.top_k, "Positions per query (topk, sparse_*)")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--runs", a.runs, "Timed cold runs per variant")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--warmup", a.warmup, "Untimed runs per variant before the timed ones")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  app.add_option("--seed", a.seed, "Seed of the random inputs")->capture_default_str();
  app.add_option("--validate-gflop", a.validate_gflop,
                 "Float64 reference work per validation; beyond it, query tokens are sampled")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--check", a.check,
                 "Which variants are validated before they are timed: all, or the default alone "
                 "(at long contexts each validation checks the longest query token in float64)")
      ->check(CLI::IsMember({"all", "default"}))
      ->capture_default_str();
  app.add_option("--env", a.env,
                 "A variant: VAR=VALUE set for its runs alone (repeatable; VALUE may be empty), "
                 "e.g. COSTCURVE_MQA_DIAG=resident")
      ->allow_extra_args(false)
      ->check(setting_error, "VAR=VALUE");
  try {
    app.parse(argc, argv);
    make_spec(a);  // shape errors are usage errors, reported like CLI11's own
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  try {
    return probe(a);
  } catch (const OpError& e) {
    std::cerr << "costcurve_probe: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::bad_alloc&) {
    std::cerr << "costcurve_probe: out of memory\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "costcurve_probe: unexpected error: " << e.what() << "\n";
    return kExitFailed;
  }
}
