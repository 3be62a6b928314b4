#include "reports/compare.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "harness/json_input.hpp"
#include "harness/stats.hpp"

namespace costcurve {
namespace {

using nlohmann::json;

constexpr int kExactMaxN = 10;              // exact U distribution up to this many per sample
constexpr int kRecommendedRepetitions = 9;  // compare.py's UTEST_OPTIMAL_REPETITIONS

double median_of(const std::vector<double>& v) {
  return summarize(v).median;
}

// P(U = u) counts for samples of m and n values without ties: the number of orderings of m a's and
// n b's with u pairs (a, b) where a > b, over all C(m + n, m) orderings.
std::vector<double> u_counts(int m, int n) {
  // f[i][j] is the count vector for samples of i and j values: f(i, j, u) = f(i-1, j, u-j) (the
  // largest value is an a, above all j b's) + f(i, j-1, u) (it is a b).
  std::vector<std::vector<std::vector<double>>> f(static_cast<std::size_t>(m) + 1,
                                                  std::vector<std::vector<double>>(n + 1));
  for (int i = 0; i <= m; ++i)
    for (int j = 0; j <= n; ++j) {
      std::vector<double>& c = f[i][j];
      c.assign(static_cast<std::size_t>(i * j) + 1, 0.0);
      if (i == 0 || j == 0) {
        c[0] = 1;
        continue;
      }
      const std::vector<double>& with_a = f[i - 1][j];
      for (std::size_t u = 0; u < with_a.size(); ++u)
        c[u + static_cast<std::size_t>(j)] += with_a[u];
      const std::vector<double>& with_b = f[i][j - 1];
      for (std::size_t u = 0; u < with_b.size(); ++u) c[u] += with_b[u];
    }
  return f[m][n];
}

// The smallest two-sided p the exact test can give for samples of n1 and n2 values (complete
// separation); 0 when the normal approximation applies and the question does not arise.
double smallest_exact_p(int n1, int n2) {
  if (n1 < 1 || n2 < 1) return 1;
  if (n1 > kExactMaxN || n2 > kExactMaxN) return 0;
  double orderings = 1;  // C(n1 + n2, n1)
  for (int k = 1; k <= n1; ++k) orderings = orderings * (n2 + k) / k;
  return std::min(1.0, 2 / orderings);
}

std::string fmt(const char* format, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, x);
  return buf;
}

std::string fmt_percent(double fraction) {
  if (!std::isfinite(fraction)) return "n/a";
  return fmt("%+.1f%%", fraction * 100);
}

std::string fmt_percent_unsigned(double fraction) {
  return fmt("%g%%", fraction * 100);
}

std::string fmt_p(double p) {
  if (!std::isfinite(p)) return "n/a";
  return p >= 0.001 || p == 0 ? fmt("%.3f", p) : fmt("%.1e", p);
}

std::string fmt_time(double s) {
  if (!std::isfinite(s)) return "n/a";
  if (s < 1e-3) return fmt("%.2f us", s * 1e6);
  if (s < 1) return fmt("%.3f ms", s * 1e3);
  return fmt("%.3f s", s);
}

std::string reps(const PointVerdict& v) {
  return std::to_string(v.n_base) + "/" + std::to_string(v.n_current);
}

std::string verdict_label(const PointVerdict& v, const CompareOptions& o) {
  if (v.regression) return "REGRESSION";
  if (v.cleared_beside) return "drift";
  if (v.improvement) return "improved";
  if (v.change > o.threshold) return "slower n.s.";
  if (v.change < -o.threshold) return "faster n.s.";
  return "within";
}

// Ordering for the markdown: regressions, improvements, then the rest as in the report.
int verdict_rank(const PointVerdict& v) {
  return v.regression ? 0 : v.improvement ? 1 : 2;
}

// The point name with its "/L<position>" replaced by "/L*"; empty when the name has no such part.
std::string curve_of(const PointResult& r) {
  const Point& p = r.point;
  const std::string seg = "/L" + std::to_string(p.position) + "/";
  // Where the position sits in Point::name(): after backend/model/op/phase.
  std::size_t at = p.backend.size() + 1 + p.model.size() + 1 + op_name(p.op).size() + 1 +
                   phase_name(p.phase).size();
  if (r.name.compare(at, seg.size(), seg) != 0) at = r.name.find(seg);
  if (at == std::string::npos) return {};
  return r.name.substr(0, at) + "/L*/" + r.name.substr(at + seg.size());
}

std::string describe_not_comparable(const PointResult& b, const PointResult& c) {
  std::string s = b.name + " (baseline " + std::string(status_name(b.status));
  if (b.status != PointStatus::ok && !b.reason.empty()) s += ": " + b.reason;
  s += ", current " + std::string(status_name(c.status));
  if (c.status != PointStatus::ok && !c.reason.empty()) s += ": " + c.reason;
  return s + ")";
}

std::string context_string(const ResultsFile& f, const char* key) {
  if (!f.context.is_object()) return {};
  const auto it = f.context.find(key);
  return it != f.context.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

// How the file's sweep flushed the cache before cold runs. Files before the field (2026-12-07) had
// one flush per backend, or the discarding one on request.
std::string cache_flush_of(const ResultsFile& f) {
  const std::string recorded = context_string(f, "cache_flush");
  if (!recorded.empty()) return recorded;
  const auto env = f.context.is_object() ? f.context.find("kernel_env") : f.context.end();
  if (f.backend == "cuda") {
    const bool discard = env != f.context.end() && env->is_object() &&
                         env->value("COSTCURVE_L2_FLUSH", nlohmann::json()) == "discard";
    return discard ? "memset 2xL2 + discard" : "memset 2xL2";
  }
  return f.backend == "cpu" ? "memset 256 MiB" : "";
}

// Markdown: backslash-escape what would end a table cell, open a code span, emphasis, a link or
// HTML; line breaks become spaces.
std::string md(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    switch (ch) {
      case '\\':
      case '|':
      case '`':
      case '*':
      case '[':
      case ']':
      case '<':
      case '>':
        out += '\\';
        out += ch;
        break;
      case '\n':
      case '\r':
      case '\t': out += ' '; break;
      default: out += ch;
    }
  }
  return out;
}

std::string pad_right(std::string s, std::size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s;
}

std::string pad_left(std::string s, std::size_t w) {
  if (s.size() < w) s.insert(0, w - s.size(), ' ');
  return s;
}

std::string summary_line(const CompareReport& r) {
  const int reg = r.regression_count(), imp = r.improvement_count(),
            slopes = r.flagged_slope_count();
  std::string s = std::to_string(r.points.size()) + " points compared: " + std::to_string(reg) +
                  (reg == 1 ? " regression, " : " regressions, ") + std::to_string(imp) +
                  (imp == 1 ? " improvement, " : " improvements, ") + std::to_string(slopes) +
                  " of " + std::to_string(r.slopes.size()) + " slopes flagged";
  s += "; " + std::to_string(r.added.size()) + " added, " + std::to_string(r.removed.size()) +
       " removed, " + std::to_string(r.not_comparable.size()) + " not comparable";
  const auto drift = std::count_if(r.points.begin(), r.points.end(),
                                   [](const PointVerdict& v) { return v.cleared_beside; });
  if (drift > 0)
    s += "; " + std::to_string(drift) + (drift == 1 ? " slowdown was" : " slowdowns were") +
         " the machine (drift)";
  return s;
}

std::string options_line(const CompareOptions& o) {
  return "threshold " + fmt_percent_unsigned(o.threshold) + ", alpha " + fmt("%g", o.alpha) +
         " (two-sided Mann-Whitney U over repetitions)";
}

}  // namespace

int CompareReport::regression_count() const {
  return static_cast<int>(
      std::count_if(points.begin(), points.end(), [](const auto& v) { return v.regression; }));
}

int CompareReport::improvement_count() const {
  return static_cast<int>(
      std::count_if(points.begin(), points.end(), [](const auto& v) { return v.improvement; }));
}

int CompareReport::flagged_slope_count() const {
  return static_cast<int>(
      std::count_if(slopes.begin(), slopes.end(), [](const auto& s) { return s.flagged; }));
}

bool CompareReport::regression() const {
  return regression_count() > 0 || flagged_slope_count() > 0;
}

void check_compare_options(const CompareOptions& o) {
  if (!std::isfinite(o.threshold) || o.threshold < 0)
    throw InputError("--threshold: expected a non-negative fraction or percentage, got " +
                     fmt("%g", o.threshold));
  if (!(o.alpha > 0 && o.alpha <= 1))
    throw InputError("--alpha: expected a significance level in (0, 1], got " + fmt("%g", o.alpha));
}

double parse_fraction(const std::string& text, const std::string& option) {
  const auto bad = [&]() -> double {
    throw InputError(option +
                     ": expected a non-negative number or percentage (e.g. 5% or 0.05), "
                     "got \"" +
                     text + "\"");
  };
  std::string_view s = text;
  bool percent = false;
  if (!s.empty() && s.back() == '%') {
    percent = true;
    s.remove_suffix(1);
  }
  if (s.empty()) return bad();
  double x = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
  if (ec != std::errc{} || end != s.data() + s.size() || !std::isfinite(x) || x < 0) return bad();
  return percent ? x / 100 : x;
}

double mann_whitney_p(const std::vector<double>& a, const std::vector<double>& b) {
  const std::size_t n1 = a.size(), n2 = b.size();
  if (n1 == 0 || n2 == 0) return 1;
  for (const auto* v : {&a, &b})
    for (const double x : *v)
      if (!std::isfinite(x)) return 1;

  // Average ranks over the pooled sample (1-based), and the tie term sum(t^3 - t).
  struct Value {
    double x;
    bool from_a;
  };
  std::vector<Value> pooled;
  pooled.reserve(n1 + n2);
  for (const double x : a) pooled.push_back({x, true});
  for (const double x : b) pooled.push_back({x, false});
  std::sort(pooled.begin(), pooled.end(), [](const Value& l, const Value& r) { return l.x < r.x; });
  const std::size_t n = pooled.size();
  double rank_sum_a = 0, tie_term = 0;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j < n && pooled[j].x == pooled[i].x) ++j;
    const double t = static_cast<double>(j - i);
    const double rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (std::size_t k = i; k < j; ++k)
      if (pooled[k].from_a) rank_sum_a += rank;
    tie_term += t * t * t - t;
    i = j;
  }
  const double dn1 = static_cast<double>(n1), dn2 = static_cast<double>(n2);
  const double u1 = rank_sum_a - dn1 * (dn1 + 1) / 2;  // pairs with a > b, ties counting 1/2

  if (tie_term == 0 && n1 <= kExactMaxN && n2 <= kExactMaxN) {
    const std::vector<double> counts = u_counts(static_cast<int>(n1), static_cast<int>(n2));
    const auto u = static_cast<std::size_t>(std::llround(u1));
    double total = 0, below = 0, above = 0;  // P(U <= u), P(U >= u) as counts
    for (std::size_t k = 0; k < counts.size(); ++k) {
      total += counts[k];
      if (k <= u) below += counts[k];
      if (k >= u) above += counts[k];
    }
    return std::min(1.0, 2 * std::min(below, above) / total);
  }

  const double dn = dn1 + dn2;
  const double mu = dn1 * dn2 / 2;
  const double var = dn1 * dn2 / 12 * ((dn + 1) - tie_term / (dn * (dn - 1)));
  if (!(var > 0)) return 1;  // every value equal
  const double z = (std::abs(u1 - mu) - 0.5) / std::sqrt(var);
  if (z <= 0) return 1;
  return std::min(1.0, std::erfc(z / std::sqrt(2.0)));
}

CompareReport compare_results(const ResultsFile& base, const ResultsFile& cur,
                              const CompareOptions& o, std::string base_name,
                              std::string cur_name) {
  check_compare_options(o);
  CompareReport r;
  r.baseline = std::move(base_name);
  r.current = std::move(cur_name);
  r.options = o;

  std::unordered_map<std::string, const PointResult*> current_by_name;
  for (const PointResult& p : cur.points) current_by_name.emplace(p.name, &p);

  struct Placed {
    std::string curve;
    std::int64_t position;
  };
  std::vector<Placed> placed;  // parallel to r.points
  std::unordered_set<std::string> in_base;
  int too_few_to_test = 0, cannot_reach_alpha = 0;

  for (const PointResult& b : base.points) {
    if (!in_base.insert(b.name).second) continue;  // a duplicate name: the first one counts
    const auto it = current_by_name.find(b.name);
    if (it == current_by_name.end()) {
      r.removed.push_back(b.name);
      continue;
    }
    const PointResult& c = *it->second;
    if (b.status != PointStatus::ok || c.status != PointStatus::ok) {
      r.not_comparable.push_back(describe_not_comparable(b, c));
      continue;
    }
    PointVerdict v;
    v.name = b.name;
    v.base_median_s = median_of(b.samples_s);
    v.current_median_s = median_of(c.samples_s);
    if (!(v.base_median_s > 0 && std::isfinite(v.base_median_s) && v.current_median_s > 0 &&
          std::isfinite(v.current_median_s))) {
      r.not_comparable.push_back(b.name + " (no positive timings to compare)");
      continue;
    }
    v.change = (v.current_median_s - v.base_median_s) / v.base_median_s;
    v.n_base = static_cast<int>(b.samples_s.size());
    v.n_current = static_cast<int>(c.samples_s.size());
    const std::string n_text = std::to_string(v.n_base) + " vs " + std::to_string(v.n_current);
    if (v.n_base < 2 || v.n_current < 2) {
      v.p_value = 1;
      v.note = "no U test: " + n_text + " repetitions, it needs at least 2 on each side";
      ++too_few_to_test;
    } else {
      v.p_value = mann_whitney_p(b.samples_s, c.samples_s);
      const double smallest = smallest_exact_p(v.n_base, v.n_current);
      if (smallest >= o.alpha) {
        v.note = n_text + " repetitions: p >= " + fmt("%.3g", smallest) + " always, cannot reach " +
                 fmt("%g", o.alpha);
        ++cannot_reach_alpha;
      } else if (std::min(v.n_base, v.n_current) < kRecommendedRepetitions) {
        v.note = n_text + " repetitions: weak test, " + std::to_string(kRecommendedRepetitions) +
                 "+ recommended";
      }
    }
    v.regression = v.change > o.threshold && v.p_value < o.alpha;
    v.improvement = v.change < -o.threshold && v.p_value < o.alpha;
    placed.push_back({curve_of(b), b.point.position});
    r.points.push_back(std::move(v));
  }
  std::unordered_set<std::string> seen_added;
  for (const PointResult& c : cur.points)
    if (!in_base.count(c.name) && seen_added.insert(c.name).second) r.added.push_back(c.name);

  // Slopes: curves in first-appearance order.
  std::vector<std::string> curves;
  std::unordered_map<std::string, std::vector<std::size_t>> members;
  for (std::size_t i = 0; i < placed.size(); ++i) {
    if (placed[i].curve.empty()) continue;
    auto [it, fresh] = members.try_emplace(placed[i].curve);
    if (fresh) curves.push_back(placed[i].curve);
    it->second.push_back(i);
  }
  for (const std::string& curve : curves) {
    std::vector<double> short_changes, long_changes;
    bool long_all_significant_slowdowns = true, long_untestable = false;
    for (const std::size_t i : members[curve]) {
      const PointVerdict& v = r.points[i];
      if (placed[i].position < kSlopeSplitPosition) {
        short_changes.push_back(v.change);
      } else {
        long_changes.push_back(v.change);
        if (!(v.p_value < o.alpha && v.change > 0)) long_all_significant_slowdowns = false;
        if (!v.note.empty() && v.p_value >= o.alpha) long_untestable = true;
      }
    }
    if (short_changes.empty() || long_changes.empty()) continue;
    SlopeVerdict s;
    s.curve = curve;
    s.change_short = median_of(short_changes);
    s.change_long = median_of(long_changes);
    s.n_short = static_cast<int>(short_changes.size());
    s.n_long = static_cast<int>(long_changes.size());
    const bool steeper = s.change_long - s.change_short > o.threshold;
    s.flagged = steeper && long_all_significant_slowdowns;
    if (s.flagged)
      s.note = "slower beyond 64K: " + fmt_percent(s.change_long) + " at >= 64K vs " +
               fmt_percent(s.change_short) + " below";
    else if (steeper)
      s.note = long_untestable
                   ? "steeper beyond 64K, but too few repetitions to test it"
                   : "steeper beyond 64K, but not every long-range point is a significant slowdown";
    r.slopes.push_back(std::move(s));
  }

  // Warnings: what makes the comparison weaker or the files unlike.
  if (base.scenario_hash != cur.scenario_hash || base.scenario_name != cur.scenario_name)
    r.warnings.push_back("different scenarios: baseline " + base.scenario_name + " (" +
                         base.scenario_hash + "), current " + cur.scenario_name + " (" +
                         cur.scenario_hash + ")");
  if (base.backend != cur.backend)
    r.warnings.push_back("different backends: baseline " + base.backend + ", current " +
                         cur.backend);
  const std::string host_b = context_string(base, "host_name"),
                    host_c = context_string(cur, "host_name");
  if (!host_b.empty() && !host_c.empty() && host_b != host_c)
    r.warnings.push_back("different hosts: baseline " + host_b + ", current " + host_c);
  if (base.has_ceilings && cur.has_ceilings && base.ceilings.device != cur.ceilings.device)
    r.warnings.push_back("different devices: baseline " + base.ceilings.device + ", current " +
                         cur.ceilings.device);
  const std::string flush_b = cache_flush_of(base), flush_c = cache_flush_of(cur);
  if (!flush_b.empty() && !flush_c.empty() && flush_b != flush_c)
    r.warnings.push_back("different cache flushes (cold times not comparable): baseline " +
                         flush_b + ", current " + flush_c);
  const std::string env_b = base.kernel_selection(), env_c = cur.kernel_selection();
  if (env_b != env_c)
    r.warnings.push_back(
        "different COSTCURVE_* settings (different kernels, or timed differently): "
        "baseline " +
        env_b + ", current " + env_c);
  if (cannot_reach_alpha > 0)
    r.warnings.push_back(std::to_string(cannot_reach_alpha) + " of " +
                         std::to_string(r.points.size()) +
                         " points have too few repetitions for the U test ever to reach p < " +
                         fmt("%g", o.alpha) + ": they cannot be flagged (" +
                         std::to_string(kRecommendedRepetitions) + "+ repetitions recommended)");
  if (too_few_to_test > 0)
    r.warnings.push_back(std::to_string(too_few_to_test) + " of " +
                         std::to_string(r.points.size()) +
                         " points have fewer than 2 repetitions on a side: no U test, never "
                         "flagged");
  return r;
}

void apply_beside(CompareReport& r, const ResultsFile& cur, const ResultsFile& beside,
                  const std::string& beside_name) {
  const CompareOptions& o = r.options;
  r.beside = beside_name;
  std::unordered_map<std::string, const PointVerdict*> by_name;
  for (PointVerdict& v : r.points) {
    by_name.emplace(v.name, &v);
    const PointResult* c = cur.find(v.name);
    const PointResult* b = beside.find(v.name);
    const double m = b && b->status == PointStatus::ok ? median_of(b->samples_s) : 0;
    if (!c || !(m > 0 && std::isfinite(m))) {
      if (v.regression) {  // kept, but the reader should know it was not checked
        const std::string why = "no timing of it beside, from the baseline's build";
        v.note = v.note.empty() ? why : v.note + "; " + why;
      }
      continue;
    }
    v.beside_tested = true;
    v.beside_change = (v.current_median_s - m) / m;
    v.beside_p = mann_whitney_p(b->samples_s, c->samples_s);
    if (v.regression && !(v.beside_change > o.threshold && v.beside_p < o.alpha)) {
      v.regression = false;
      v.cleared_beside = true;
      const std::string why = "not slower than the baseline's build swept beside it (" +
                              fmt_percent(v.beside_change) + ", p " + fmt_p(v.beside_p) +
                              "): the machine drifted";
      v.note = v.note.empty() ? why : v.note + "; " + why;
    }
  }
  for (SlopeVerdict& sl : r.slopes) {
    if (!sl.flagged) continue;
    for (const PointResult& c : cur.points) {
      if (c.point.position < kSlopeSplitPosition || curve_of(c) != sl.curve) continue;
      const auto it = by_name.find(c.name);
      if (it == by_name.end() || !it->second->beside_tested) continue;
      const PointVerdict& v = *it->second;
      if (v.beside_change > 0 && v.beside_p < o.alpha) continue;
      sl.flagged = false;
      sl.note = "steeper beyond 64K than the baseline, but " + v.name +
                " is not slower than the baseline's build swept beside it (" +
                fmt_percent(v.beside_change) + ", p " + fmt_p(v.beside_p) +
                "): the machine drifted";
      break;
    }
  }
}

std::string compare_table(const CompareReport& r) {
  std::ostringstream s;
  const CompareOptions& o = r.options;
  s << "costcurve compare: baseline " << r.baseline << " -> current " << r.current << "\n";
  if (!r.beside.empty())
    s << "checked against the baseline's build swept beside it: " << r.beside << "\n";
  s << options_line(o) << "\n\n";

  const std::size_t wv = 12, wc = 9, wp = 8, wn = 6, wt = 12;
  s << pad_right("verdict", wv) << pad_left("change", wc) << pad_left("p", wp)
    << pad_left("reps", wn) << pad_left("baseline", wt) << pad_left("current", wt) << "  point\n";
  for (const PointVerdict& v : r.points) {
    s << pad_right(verdict_label(v, o), wv) << pad_left(fmt_percent(v.change), wc)
      << pad_left(fmt_p(v.p_value), wp) << pad_left(reps(v), wn)
      << pad_left(fmt_time(v.base_median_s), wt) << pad_left(fmt_time(v.current_median_s), wt)
      << "  " << v.name;
    if (!v.note.empty()) s << "  [" << v.note << "]";
    s << "\n";
  }
  if (r.points.empty()) s << "(no point in both files)\n";

  if (!r.slopes.empty()) {
    s << "\nslopes: median change below 64K -> at or beyond 64K\n";
    for (const SlopeVerdict& sl : r.slopes) {
      s << pad_right(sl.flagged ? "FLAGGED" : "ok", wv)
        << pad_left(fmt_percent(sl.change_short), wc) << " -> "
        << pad_right(fmt_percent(sl.change_long), wc) << "  " << sl.curve;
      if (!sl.note.empty()) s << "  [" << sl.note << "]";
      s << "\n";
    }
  }
  const auto list = [&s](const char* title, const std::vector<std::string>& names) {
    if (names.empty()) return;
    s << "\n" << title << " (" << names.size() << "):\n";
    for (const std::string& n : names) s << "  " << n << "\n";
  };
  list("added, only in current", r.added);
  list("removed, only in baseline", r.removed);
  list("not comparable", r.not_comparable);
  list("warnings", r.warnings);

  s << "\n" << summary_line(r) << "\n";
  s << "verdict: " << (r.regression() ? "REGRESSION" : "no regression") << "\n";
  return s.str();
}

std::string compare_markdown(const CompareReport& r) {
  std::ostringstream s;
  const CompareOptions& o = r.options;
  s << "## costcurve compare: " << md(r.baseline) << " → " << md(r.current) << "\n\n";
  s << "**Verdict: " << (r.regression() ? "REGRESSION" : "no regression") << "**. "
    << md(summary_line(r)) << ". " << md(options_line(o)) << ".";
  if (!r.beside.empty())
    s << " Regressions checked against the baseline's build swept beside the current run: "
      << md(r.beside) << ".";
  s << "\n\n";

  const auto table = [&](const std::vector<const PointVerdict*>& rows) {
    s << "| Verdict | Point | Baseline | Current | Change | p | Reps | Note |\n"
      << "|---|---|--:|--:|--:|--:|--:|---|\n";
    for (const PointVerdict* v : rows)
      s << "| " << (v->regression ? "**REGRESSION**" : verdict_label(*v, o)) << " | " << md(v->name)
        << " | " << fmt_time(v->base_median_s) << " | " << fmt_time(v->current_median_s) << " | "
        << fmt_percent(v->change) << " | " << fmt_p(v->p_value) << " | " << reps(*v) << " | "
        << md(v->note) << " |\n";
  };
  std::vector<const PointVerdict*> all, significant;
  for (const PointVerdict& v : r.points) {
    all.push_back(&v);
    if (v.regression || v.improvement) significant.push_back(&v);
  }
  std::stable_sort(significant.begin(), significant.end(), [](const auto* a, const auto* b) {
    return verdict_rank(*a) < verdict_rank(*b);
  });
  if (!significant.empty()) {
    s << "### Significant changes\n\n";
    table(significant);
    s << "\n";
  }
  if (!r.slopes.empty()) {
    s << "### Slopes beyond 64K\n\n"
      << "| Flag | Curve | Change < 64K | Change ≥ 64K | Note |\n|---|---|--:|--:|---|\n";
    for (const SlopeVerdict& sl : r.slopes)
      s << "| " << (sl.flagged ? "**FLAGGED**" : "ok") << " | " << md(sl.curve) << " | "
        << fmt_percent(sl.change_short) << " | " << fmt_percent(sl.change_long) << " | "
        << md(sl.note) << " |\n";
    s << "\n";
  }
  if (!all.empty()) {
    s << "<details><summary>All " << all.size() << " points</summary>\n\n";
    table(all);
    s << "\n</details>\n\n";
  }
  const auto list = [&s](const char* title, const std::vector<std::string>& items) {
    if (items.empty()) return;
    s << "### " << title << " (" << items.size() << ")\n\n";
    for (const std::string& i : items) s << "- " << md(i) << "\n";
    s << "\n";
  };
  list("Added (only in current)", r.added);
  list("Removed (only in baseline)", r.removed);
  list("Not comparable", r.not_comparable);
  list("Warnings", r.warnings);
  return s.str();
}

json compare_json(const CompareReport& r) {
  json points = json::array();
  for (const PointVerdict& v : r.points) {
    points.push_back({{"name", v.name},
                      {"verdict", verdict_label(v, r.options)},
                      {"baseline_median_s", v.base_median_s},
                      {"current_median_s", v.current_median_s},
                      {"change", v.change},
                      {"p_value", v.p_value},
                      {"n_baseline", v.n_base},
                      {"n_current", v.n_current},
                      {"regression", v.regression},
                      {"improvement", v.improvement},
                      {"note", v.note}});
    if (v.beside_tested) {
      points.back()["beside_change"] = v.beside_change;
      points.back()["beside_p_value"] = v.beside_p;
      points.back()["cleared_beside"] = v.cleared_beside;
    }
  }
  json slopes = json::array();
  for (const SlopeVerdict& sl : r.slopes)
    slopes.push_back({{"curve", sl.curve},
                      {"change_short", sl.change_short},
                      {"change_long", sl.change_long},
                      {"n_short", sl.n_short},
                      {"n_long", sl.n_long},
                      {"flagged", sl.flagged},
                      {"note", sl.note}});
  return {{"baseline", r.baseline},
          {"current", r.current},
          {"beside", r.beside},
          {"threshold", r.options.threshold},
          {"alpha", r.options.alpha},
          {"slope_split_position", kSlopeSplitPosition},
          {"regression", r.regression()},
          {"summary",
           {{"compared", r.points.size()},
            {"regressions", r.regression_count()},
            {"improvements", r.improvement_count()},
            {"slopes", r.slopes.size()},
            {"slopes_flagged", r.flagged_slope_count()},
            {"added", r.added.size()},
            {"removed", r.removed.size()},
            {"not_comparable", r.not_comparable.size()}}},
          {"points", points},
          {"slopes", slopes},
          {"added", r.added},
          {"removed", r.removed},
          {"not_comparable", r.not_comparable},
          {"warnings", r.warnings}};
}

namespace {

std::string regex_escape(const std::string& s) {
  std::string e;
  for (const char ch : s) {
    if (std::strchr("\\^$.|?*+()[]{}", ch) != nullptr && ch != '\0') e += '\\';
    e += ch;
  }
  return e;
}

}  // namespace

std::string rerun_filter(const CompareReport& r) {
  std::vector<std::string> alternatives;
  for (const PointVerdict& v : r.points)
    if (v.regression) alternatives.push_back(regex_escape(v.name));
  for (const SlopeVerdict& s : r.slopes) {
    if (!s.flagged) continue;
    const std::size_t star = s.curve.find("/L*/");
    if (star == std::string::npos) continue;
    alternatives.push_back(regex_escape(s.curve.substr(0, star)) + "/L[0-9]+/" +
                           regex_escape(s.curve.substr(star + 4)));
  }
  if (alternatives.empty()) return {};
  std::string re = "^(?:";
  for (std::size_t i = 0; i < alternatives.size(); ++i) re += (i ? "|" : "") + alternatives[i];
  return re + ")$";
}

ResultsFile pool_baselines(const std::vector<ResultsFile>& runs,
                           const std::vector<std::string>& names) {
  if (runs.empty()) throw InputError("no baseline to pool");
  ResultsFile pooled = runs.front();
  for (std::size_t i = 1; i < runs.size(); ++i) {
    const ResultsFile& r = runs[i];
    const std::string& name =
        i < names.size() ? names[i] : std::string("baseline ") + std::to_string(i + 1);
    const auto differs = [&](const char* what, const std::string& a, const std::string& b) {
      if (a != b)
        throw InputError(name + ": " + what + " '" + b + "' differs from the first baseline's '" +
                         a + "': only runs of one build pool into a baseline");
    };
    differs("git_sha", pooled.git_sha, r.git_sha);
    differs("backend", pooled.backend, r.backend);
    differs("scenario_hash", pooled.scenario_hash, r.scenario_hash);
    for (PointResult& p : pooled.points) {
      const PointResult* q = r.find(p.name);
      if (!q || q->status != PointStatus::ok) continue;
      if (p.status != PointStatus::ok) {
        p = *q;  // a point that failed in one run and passed in another: the passing run
        continue;
      }
      p.samples_s.insert(p.samples_s.end(), q->samples_s.begin(), q->samples_s.end());
    }
  }
  return pooled;
}

int run_compare(const std::filesystem::path& base, const std::filesystem::path& cur,
                const CompareOptions& o, const std::filesystem::path& markdown_out,
                const std::filesystem::path& json_out, std::ostream& out,
                const std::filesystem::path& rerun_filter_out,
                const std::vector<std::filesystem::path>& also_base,
                const std::vector<std::filesystem::path>& beside) {
  constexpr int kRegression = 1, kBadInput = 2;
  CompareReport report;
  try {
    check_compare_options(o);
    std::vector<ResultsFile> bases{load_results(base)};
    std::vector<std::string> names{base.string()};
    for (const auto& f : also_base) {
      bases.push_back(load_results(f));
      names.push_back(f.string());
    }
    const ResultsFile b = pool_baselines(bases, names);
    const ResultsFile c = load_results(cur);
    std::string label = base.string();
    if (!also_base.empty()) label += " (+" + std::to_string(also_base.size()) + " pooled)";
    report = compare_results(b, c, o, label, cur.string());
    if (!beside.empty()) {
      std::vector<ResultsFile> runs;
      std::vector<std::string> run_names;
      for (const auto& f : beside) {
        runs.push_back(load_results(f));
        run_names.push_back(f.string());
      }
      const ResultsFile s = pool_baselines(runs, run_names);
      if (s.git_sha != b.git_sha || s.backend != b.backend)
        throw InputError("--beside " + beside.front().string() + ": build " + s.git_sha + " on " +
                         s.backend + " is not the baseline's (" + b.git_sha + " on " + b.backend +
                         "): it must be the baseline's build swept beside the current run");
      std::string beside_label = beside.front().string();
      if (beside.size() > 1) beside_label += " (+" + std::to_string(beside.size() - 1) + " pooled)";
      apply_beside(report, c, s, beside_label);
    }
  } catch (const InputError& e) {
    out << "costcurve compare: " << e.what() << "\n";
    return kBadInput;
  }
  out << compare_table(report);
  try {
    if (!markdown_out.empty()) write_atomic(markdown_out, compare_markdown(report));
    // Names and labels may hold bytes that are not UTF-8 (file names): replaced, never thrown.
    if (!json_out.empty())
      write_atomic(json_out,
                   compare_json(report).dump(2, ' ', false, json::error_handler_t::replace) + "\n");
    if (!rerun_filter_out.empty()) {
      const std::string re = rerun_filter(report);
      write_atomic(rerun_filter_out, re.empty() ? re : re + "\n");
    }
  } catch (const std::exception& e) {
    out << "costcurve compare: " << e.what() << "\n";
    return kBadInput;
  }
  return report.regression() ? kRegression : 0;
}

}  // namespace costcurve
