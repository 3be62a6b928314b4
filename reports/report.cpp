#include "reports/report.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <ostream>
#include <sstream>

#include "harness/json_input.hpp"
#include "harness/results.hpp"

namespace costcurve {
namespace fs = std::filesystem;
using nlohmann::json;

std::string safe_label(const std::string& s, std::size_t max_chars) {
  std::string out;
  for (unsigned char c : s) {
    if (out.size() >= max_chars) break;
    bool ok = std::isalnum(c) || std::string_view(" .,:;()/+=%$-_").find(static_cast<char>(c)) !=
                                     std::string_view::npos;
    // No name directly followed by '(': nothing that reads as a call, e.g. system(...).
    if (c == '(' && !out.empty() &&
        (std::isalnum(static_cast<unsigned char>(out.back())) || out.back() == '_'))
      ok = false;
    out += ok ? static_cast<char>(c) : '?';
  }
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      // Control characters are not allowed in HTML (and a terminal showing the file would obey
      // escape sequences): all but white space become '?'.
      default: {
        const auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 && c != '\n' && c != '\t' && c != '\r') || u == 0x7f ? '?' : c;
      }
    }
  return out;
}

namespace {

// A label inside a gnuplot single-quoted string (no escapes are interpreted there).
std::string gq(const std::string& s) {
  return "'" + safe_label(s) + "'";
}

std::string fmt(double v, int precision = 4) {
  std::ostringstream os;
  os.precision(precision);
  os << v;
  return os.str();
}

// One priced machine: a `costcurve cost` output, checked for what the report reads.
struct Curve {
  std::string model, attention, phase;
  std::vector<double> pos, usd, lo, hi;
  std::vector<std::map<std::string, double>> breakdown;
};
struct CostFile {
  std::string label, label_short, hardware, tier, projection;
  std::vector<std::string> warnings;  // the projection's, e.g. a spec its measurement disputes
  double price = 0;
  std::vector<Curve> curves;
  json crossovers, ratios, calibration, requests;
};

const json& field(const json& j, const std::string& key, const std::string& origin,
                  const std::string& path, json::value_t type) {
  if (!j.is_object()) input_error(origin, path, "expected an object, got " + describe_value(j));
  if (!j.contains(key)) input_error(origin, path, "missing field '" + key + "'");
  const json& v = j.at(key);
  const bool number = type == json::value_t::number_float;
  const char* expected = number                          ? "a finite number"
                         : type == json::value_t::object ? "an object"
                         : type == json::value_t::array  ? "an array"
                         : type == json::value_t::string ? "a string"
                                                         : "another type";
  if (number ? !v.is_number() || !std::isfinite(v.get<double>()) : v.type() != type)
    input_error(origin, json_path_key(path, key),
                std::string("expected ") + expected + ", got " + describe_value(v));
  return v;
}

CostFile load_cost(const fs::path& file) {
  const std::string o = file.string();
  const json j = read_json_file(file);
  using vt = json::value_t;
  CostFile c;
  const json& hw = field(j, "hardware", o, "$", vt::object);
  const json& price = field(j, "price", o, "$", vt::object);
  c.hardware = field(hw, "display_name", o, "$.hardware", vt::string);
  c.tier = field(price, "tier", o, "$.price", vt::string);
  c.price = field(price, "usd_per_hour", o, "$.price", vt::number_float);
  if (j.contains("projection") && !j["projection"].is_null()) {
    const json& pj = field(j, "projection", o, "$", vt::object);
    c.projection = field(pj, "from", o, "$.projection", vt::string);
    if (pj.contains("warnings")) {  // absent from files written before it existed
      const json& w = field(pj, "warnings", o, "$.projection", vt::array);
      for (std::size_t i = 0; i < w.size(); ++i) {
        if (!w[i].is_string())
          input_error(o, "$.projection.warnings[" + std::to_string(i) + "]",
                      "expected a string, got " + describe_value(w[i]));
        c.warnings.push_back(w[i].get<std::string>());
      }
    }
  }
  c.label = c.hardware + " at $" + fmt(c.price, 3) + "/h" +
            (c.projection.empty() ? "" : " (projected from " + c.projection + ")");
  c.label_short = field(hw, "name", o, "$.hardware", vt::string).get<std::string>() + " at $" +
                  fmt(c.price, 3) + "/h" + (c.projection.empty() ? "" : ", projected");
  const json& curves = field(j, "curves", o, "$", vt::array);
  for (std::size_t i = 0; i < curves.size(); ++i) {
    const std::string p = "$.curves[" + std::to_string(i) + "]";
    Curve cv;
    cv.model = field(curves[i], "model", o, p, vt::string);
    cv.attention = field(curves[i], "attention", o, p, vt::string);
    cv.phase = field(curves[i], "phase", o, p, vt::string);
    const json& rows = field(curves[i], "rows", o, p, vt::array);
    for (std::size_t r = 0; r < rows.size(); ++r) {
      const std::string rp = p + ".rows[" + std::to_string(r) + "]";
      cv.pos.push_back(field(rows[r], "position", o, rp, vt::number_float));
      cv.usd.push_back(field(rows[r], "usd_per_mtok", o, rp, vt::number_float));
      cv.lo.push_back(field(rows[r], "usd_per_mtok_lo", o, rp, vt::number_float));
      cv.hi.push_back(field(rows[r], "usd_per_mtok_hi", o, rp, vt::number_float));
      std::map<std::string, double> br;
      for (const auto& [k, v] : field(rows[r], "breakdown_usd_per_mtok", o, rp, vt::object).items())
        br[k] = field(rows[r]["breakdown_usd_per_mtok"], k, o, rp + ".breakdown_usd_per_mtok",
                      vt::number_float);
      cv.breakdown.push_back(std::move(br));
    }
    if (cv.pos.empty()) input_error(o, p + ".rows", "expected at least one row");
    c.curves.push_back(std::move(cv));
  }
  if (c.curves.empty()) input_error(o, "$.curves", "expected at least one curve");
  // Optional parts, checked for what the page reads from them.
  if (j.contains("crossovers")) c.crossovers = field(j, "crossovers", o, "$", vt::object);
  if (j.contains("sparse_dense_ratio")) {
    c.ratios = field(j, "sparse_dense_ratio", o, "$", vt::array);
    for (std::size_t i = 0; i < c.ratios.size(); ++i) {
      const std::string p = "$.sparse_dense_ratio[" + std::to_string(i) + "]";
      field(c.ratios[i], "phase", o, p, vt::string);
      field(c.ratios[i], "position", o, p, vt::number_float);
      field(c.ratios[i], "ratio", o, p, vt::number_float);
    }
  }
  if (j.contains("calibration") && !j["calibration"].is_null()) {
    c.calibration = field(j, "calibration", o, "$", vt::object);
    if (c.calibration.contains("calibration"))
      field(c.calibration, "calibration", o, "$.calibration", vt::string);
  }
  c.requests = j.value("requests", json::array());
  return c;
}

void write(const fs::path& file, const std::string& text) {
  write_atomic(file, text);
}

// Emits `body` once per terminal: PNG (pngcairo) and SVG.
std::string two_terminals(const std::string& name, int w, int h, const std::string& body,
                          const std::string& footer) {
  std::ostringstream s;
  for (const char* ext : {"png", "svg"}) {
    if (std::string(ext) == "png")
      s << "set terminal pngcairo size " << w << "," << h << " font 'sans,10' noenhanced\n";
    else
      s << "set terminal svg size " << w << "," << h
        << " font 'sans,10' noenhanced background '#ffffff'\n";
    s << "set output '" << name << "." << ext << "'\n";
    s << "reset session\nset datafile separator ','\nset grid\nset key top left box opaque\n";
    s << "set label 99 " << gq(footer) << " at screen 0.005,0.012 font ',8'\n";
    s << body << "unset multiplot\nset output\n";
  }
  return s.str();
}

std::string k_axis() {
  return "set xlabel 'context position (K tokens)'\nset autoscale xfix\n";
}

// Room at the bottom for the provenance footer, and at the top for the title above the panels'
// own titles (a single row of panels is short: it needs a larger share).
std::string layout(int rows, int cols, const std::string& title) {
  return "set multiplot layout " + std::to_string(rows) + "," + std::to_string(cols) + " title " +
         gq(title) + " margins 0.07,0.98," + (rows > 1 ? "0.08,0.90" : "0.14,0.86") +
         " spacing 0.08,0.12\n";
}

// One colour per cost component, the same in every panel and report: gnuplot's own cycle has 8
// colours, fewer than the components of a DSA breakdown, so two of them shared one.
std::string component_colour(const std::string& name) {
  static const std::pair<const char*, const char*> known[] = {{"dense_attention", "#e6c229"},
                                                              {"sparse_attention", "#009e73"},
                                                              {"indexer", "#d7301f"},
                                                              {"topk", "#7b3294"},
                                                              {"projections", "#56b4e9"},
                                                              {"indexer_projections", "#0072b2"},
                                                              {"moe", "#e69f00"},
                                                              {"dense_ffn", "#404040"},
                                                              {"lm_head", "#a6761d"},
                                                              {"communication", "#cc79a7"}};
  for (const auto& [n, c] : known)
    if (name == n) return c;
  static const char* spare[] = {"#8c564b", "#17becf", "#bcbd22", "#9edae5"};
  return spare[std::hash<std::string>{}(name) % 4];
}

struct Plot {
  std::string name, title, caption;
};

}  // namespace

int run_report(const ReportOptions& opt, std::ostream& out) {
  std::vector<ResultsFile> results;
  std::vector<CostFile> costs;
  try {
    for (const fs::path& p : opt.results) results.push_back(load_results(p));
    for (const fs::path& p : opt.costs) costs.push_back(load_cost(p));
  } catch (const InputError& e) {
    out << "costcurve report: " << e.what() << "\n";
    return 2;
  }
  if (results.empty() && costs.empty()) {
    out << "costcurve report: give at least one results file or --cost file\n";
    return 2;
  }
  std::error_code ec;
  fs::create_directories(opt.out_dir, ec);
  if (ec) {
    out << "costcurve report: cannot create " << opt.out_dir.string() << ": " << ec.message()
        << "\n";
    return 2;
  }
  const fs::path dir = opt.out_dir;
  // Provenance stamps: every plot names the builds, devices and dates of the results behind it;
  // a kernel plot shows one results file, the cost plots all of them.
  const auto stamp = [](const std::vector<const ResultsFile*>& files) {
    std::vector<std::string> shas, devices, dates, kernels;
    const auto add = [](std::vector<std::string>& v, const std::string& x) {
      if (!x.empty() && std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
    };
    for (const ResultsFile* r : files) {
      add(shas, r->git_sha);
      add(devices, r->has_ceilings ? r->ceilings.device : r->backend);
      add(dates, r->context.value("date", ""));
      if (const std::string k = r->kernel_selection(); k != "none") add(kernels, k);
    }
    std::sort(dates.begin(), dates.end());
    const auto join = [](const std::vector<std::string>& v, const char* sep) {
      std::string j;
      for (const std::string& x : v) j += (j.empty() ? "" : sep) + x;
      return j;
    };
    std::string t = "costcurve " + join(shas, " + ") + " - " + join(devices, " + ");
    if (!dates.empty())
      t += " - " + (dates.size() == 1 ? dates[0] : dates.front() + " .. " + dates.back());
    if (!kernels.empty())
      t += " - with " + join(kernels, " + ");  // a kernel other than the default
    return t;
  };
  std::vector<const ResultsFile*> all;
  for (const ResultsFile& r : results) all.push_back(&r);
  const std::string footer = results.empty() ? "costcurve" : stamp(all);
  std::ostringstream gp;  // all plots in one script
  std::vector<Plot> plots;

  // 1, 3, 4: per priced machine.
  for (std::size_t i = 0; i < costs.size(); ++i) {
    const CostFile& c = costs[i];
    const std::string id = std::to_string(i);
    for (std::size_t k = 0; k < c.curves.size(); ++k) {
      const Curve& cv = c.curves[k];
      std::ostringstream csv, br;
      csv << "position_k,usd,lo,hi\n";
      std::vector<std::string> parts;
      for (const auto& [name, v] : cv.breakdown[0]) parts.push_back(name);
      br << "position_k";
      for (const auto& p : parts) {  // names from the file: one line, no separator in them
        std::string h = safe_label(p);
        std::replace(h.begin(), h.end(), ',', ';');
        br << "," << h;
      }
      br << "\n";
      for (std::size_t r = 0; r < cv.pos.size(); ++r) {
        csv << cv.pos[r] / 1024 << "," << cv.usd[r] << "," << cv.lo[r] << "," << cv.hi[r] << "\n";
        br << cv.pos[r] / 1024;
        double acc = 0;  // cumulative, for stacked areas
        for (const auto& p : parts) {
          const auto it = cv.breakdown[r].find(p);
          acc += it == cv.breakdown[r].end() ? 0 : it->second;
          br << "," << acc;
        }
        br << "\n";
      }
      write(dir / ("cost_" + id + "_" + std::to_string(k) + ".csv"), csv.str());
      write(dir / ("breakdown_" + id + "_" + std::to_string(k) + ".csv"), br.str());
    }
    // Plot 1: cost curves, prefill and decode side by side, with the p10-p90 band.
    std::ostringstream b;
    b << layout(1, 2, "Cost per million tokens: " + c.label);
    for (const char* phase : {"prefill", "decode"}) {
      b << k_axis() << "set ylabel '$ / 1M tokens'\nset yrange [0:*]\nset title '" << phase
        << "'\n";
      std::string sep = "plot ";
      for (std::size_t k = 0; k < c.curves.size(); ++k) {
        if (c.curves[k].phase != phase) continue;
        const std::string f = "'cost_" + id + "_" + std::to_string(k) + ".csv'";
        const std::string t = safe_label(c.curves[k].model + " (" + c.curves[k].attention + ")");
        b << sep << f << " skip 1 using 1:3:4 with filledcurves fs transparent solid 0.25 noborder "
          << "lc " << k / 2 + 1 << " title '" << t << " p10-p90', " << f
          << " skip 1 using 1:2 with lines lw 2 lc " << k / 2 + 1 << " title '" << t << "'";
        sep = ", ";
      }
      b << "\n";
    }
    gp << two_terminals("cost_" + id, 1200, 480, b.str(), footer);
    plots.push_back({"cost_" + id, "Cost per million tokens: " + c.label,
                     "Each token's cost at its position in the context; the band spans the p10-p90 "
                     "of the measured repetitions."});

    // Plot 4: where the time goes.
    std::ostringstream b4;
    b4 << layout(2, static_cast<int>(std::max<std::size_t>(1, (c.curves.size() + 1) / 2)),
                 "Where the cost goes: " + c.label);
    for (std::size_t k = 0; k < c.curves.size(); ++k) {
      const Curve& cv = c.curves[k];
      std::vector<std::string> parts;
      for (const auto& [name, v] : cv.breakdown[0]) parts.push_back(name);
      b4 << k_axis() << "set ylabel '$ / 1M tokens'\nset yrange [0:*]\nset key top left font ',7'\n"
         << "set title " << gq(cv.model + " " + cv.phase) << "\n";
      const std::string f = "'breakdown_" + id + "_" + std::to_string(k) + ".csv'";
      for (std::size_t p = parts.size(); p-- > 0;)
        b4 << (p + 1 == parts.size() ? "plot " : ", ") << f << " skip 1 using 1:" << p + 2
           << (p == 0 ? ":(0)" : ":" + std::to_string(p + 1)) << " with filledcurves lc rgb '"
           << component_colour(parts[p]) << "' title " << gq(parts[p]);
      b4 << "\n";
    }
    gp << two_terminals("breakdown_" + id, 1200, 800, b4.str(), footer);
    plots.push_back({"breakdown_" + id, "Where the cost goes: " + c.label,
                     "Per component (attention parts per layer times layers; projections, MoE, "
                     "dense FFN, LM head and communication per token), stacked."});

    // Plot 3: sparse/dense speedup with the crossover.
    const Curve* dense[2] = {nullptr, nullptr};
    const Curve* sparse[2] = {nullptr, nullptr};
    for (const Curve& cv : c.curves) {
      const int ph = cv.phase == "decode";
      (cv.attention == "dsa" ? sparse : dense)[ph] = &cv;
    }
    if (dense[0] && sparse[0] && dense[1] && sparse[1]) {
      std::ostringstream csv;
      csv << "position_k,prefill,decode\n";
      for (std::size_t r = 0; r < dense[0]->pos.size() && r < sparse[0]->pos.size() &&
                              r < dense[1]->pos.size() && r < sparse[1]->pos.size();
           ++r)
        csv << dense[0]->pos[r] / 1024 << "," << dense[0]->usd[r] / sparse[0]->usd[r] << ","
            << dense[1]->usd[r] / sparse[1]->usd[r] << "\n";
      write(dir / ("speedup_" + id + ".csv"), csv.str());
      std::ostringstream b3;
      b3 << k_axis()
         << "set bmargin 5\nset key bottom right\nset ylabel 'dense cost / sparse cost'\nset title "
         << gq("Sparse (DSA) over dense (MLA) speedup: " + c.label) << "\n"
         << "set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2\n";
      int n = 2;
      for (const char* phase : {"prefill", "decode"}) {
        const std::string key = std::string(phase) + "_sparse_cheaper_from";
        if (c.crossovers.contains(key) && c.crossovers[key].is_object() &&
            c.crossovers[key].value("position", json()).is_number()) {
          const double x = c.crossovers[key]["position"].get<double>() / 1024;
          b3 << "set arrow " << n << " from first " << x << ", graph 0 to first " << x
             << ", graph 1 nohead lc " << n - 1 << " dt 3\nset label " << n << " '" << phase
             << " crossover " << fmt(x, 3) << "K' at first " << x << ", graph "
             << 0.95 - 0.07 * (n - 2) << " offset 0.5,0\n";
        }
        ++n;
      }
      b3 << "plot 'speedup_" << id
         << ".csv' skip 1 using 1:2 with lines lw 2 lc 1 title 'prefill', "
         << "'' skip 1 using 1:3 with lines lw 2 lc 2 title 'decode'\n";
      gp << two_terminals("speedup_" + id, 900, 500, b3.str(), footer);
      plots.push_back({"speedup_" + id, "Sparse over dense speedup: " + c.label,
                       "Above 1 the sparse model is cheaper; dotted lines mark the crossovers."});
    }
  }

  // 5: several machines (or projections) overlaid.
  if (!costs.empty()) {
    std::ostringstream b;
    b << "set multiplot layout 1,2 title 'Hardware comparison' margins 0.07,0.98,0.34,0.92 spacing "
         "0.08,0.1\nset logscale y\n";
    for (const char* phase : {"prefill", "decode"}) {
      // One legend for both panels, under them, so that it hides no data.
      b << k_axis() << "set ylabel '$ / 1M tokens (log)'\n"
        << (std::string(phase) == "prefill"
                ? "set key at screen 0.5,0.06 center bottom maxrows 3 font ',9' box\n"
                : "unset key\n")
        << "set title '" << phase << "'\n";
      std::string sep = "plot ";
      int color = 1;
      for (std::size_t i = 0; i < costs.size(); ++i)
        for (std::size_t k = 0; k < costs[i].curves.size(); ++k) {
          const Curve& cv = costs[i].curves[k];
          if (cv.phase != phase) continue;
          b << sep << "'cost_" << i << "_" << k << ".csv' skip 1 using 1:2 with lines lw 2 lc "
            << color++ << " dt " << (cv.attention == "dsa" ? 1 : 2) << " title "
            << gq(cv.model + " on " + costs[i].label_short);
          sep = ", ";
        }
      b << "\n";
    }
    gp << two_terminals("hardware", 1300, 640, b.str(), footer);
    plots.push_back({"hardware", "Hardware comparison",
                     "The same curves for every priced machine, labelled by machine and price "
                     "(dashed: dense MLA, solid: sparse DSA)."});
  }

  // 2: kernel throughput against the measured roofline.
  for (std::size_t ri = 0; ri < results.size(); ++ri) {
    const ResultsFile& r = results[ri];
    std::map<std::string, std::vector<const PointResult*>> series;  // name without position
    for (const PointResult& p : r.points) {
      if (p.status != PointStatus::ok) continue;
      std::string key = p.name;
      const auto at = key.find("/L");
      if (at != std::string::npos) key.erase(at, key.find('/', at + 1) - at);
      series[key].push_back(&p);
    }
    std::map<Op, std::vector<std::string>> by_op;
    int s = 0;
    for (auto& [key, pts] : series) {
      std::sort(pts.begin(), pts.end(),
                [](auto* a, auto* b) { return a->point.position < b->point.position; });
      std::ostringstream csv;
      csv << "position_k,seconds,tflops,gbps\n";
      for (const PointResult* p : pts)
        csv << p->point.position / 1024.0 << "," << p->summary.median << ","
            << p->flops / p->summary.median / 1e12 << "," << p->bytes / p->summary.median / 1e9
            << "\n";
      const std::string f = "kernels_" + std::to_string(ri) + "_" + std::to_string(s++) + ".csv";
      write(dir / f, csv.str());
      by_op[pts[0]->point.op].push_back(f + "|" + key);
    }
    if (by_op.empty()) continue;
    const double bw = r.has_ceilings ? r.ceilings.copy_bytes_per_s / 1e9 : 0;
    const std::string own = stamp({&r});
    const std::string sweep = r.scenario_name + " @ " + r.git_sha;
    std::ostringstream b;
    b << layout(2, 3, "Kernel throughput vs context: " + r.scenario_name + " - " + own);
    for (const auto& [op, files] : by_op) {
      const bool mem = op == Op::topk;
      // The GEMM ceiling of the type this operation computes in (CPU files hold only f32, which
      // peak_flops falls back to).
      DType dt = DType::f32;
      for (const PointResult& p : r.points)
        if (p.point.op == op) dt = compute_dtype(op, p.point.dtype);
      const double peak = r.has_ceilings ? r.ceilings.peak_flops(dt) / 1e12 : 0;
      b << k_axis() << "set logscale x 2\nset key bottom right font ',7'\nset title '"
        << op_name(op) << "'\nset ylabel '" << (mem ? "GB/s" : "TFLOP/s")
        << "'\nset yrange [0:" << fmt(1.15 * (mem ? bw : peak)) << "]\n";
      std::string sep = "plot ";
      const double ceiling = mem ? bw : peak;
      b << sep << fmt(ceiling) << " with lines lw 2 lc rgb '#cc0000' title '"
        << (mem ? "copy bandwidth " : std::string(dtype_name(dt)) + " GEMM ceiling ")
        << fmt(ceiling, 3) << "'";
      for (const std::string& fk : files) {
        const std::string f = fk.substr(0, fk.find('|'));
        std::string label = fk.substr(fk.find('|') + 1);
        label = label.substr(label.find('/', label.find('/') + 1) + 1);  // drop backend/model
        b << ", '" << f << "' skip 1 using 1:" << (mem ? 4 : 3) << " with linespoints title "
          << gq(label);
      }
      b << "\n";
    }
    const std::string name = "kernels_" + std::to_string(ri);
    gp << two_terminals(name, 1400, 820, b.str(), own);
    plots.push_back({name, "Kernel throughput against the measured ceilings (" + sweep + ")",
                     "Achieved rate per operation vs context; the red line is the ceiling measured "
                     "in the same run (GEMM for compute, copy bandwidth for top-k)."});
    std::ostringstream bt;  // the same series as time
    bt << layout(2, 3, "Kernel time vs context: " + r.scenario_name + " - " + own);
    for (const auto& [op, files] : by_op) {
      bt << k_axis() << "set logscale xy\nset key top left font ',7'\nset title '" << op_name(op)
         << "'\nset ylabel 'seconds per run (log)'\n";
      std::string sep = "plot ";
      for (const std::string& fk : files) {
        std::string label = fk.substr(fk.find('|') + 1);
        label = label.substr(label.find('/', label.find('/') + 1) + 1);
        bt << sep << "'" << fk.substr(0, fk.find('|'))
           << "' skip 1 using 1:2 with linespoints title " << gq(label);
        sep = ", ";
      }
      bt << "\n";
    }
    gp << two_terminals(name + "_time", 1400, 820, bt.str(), own);
    plots.push_back(
        {name + "_time", "Kernel time per run (" + sweep + ")",
         "Median seconds per run of each measured point (a prefill chunk, or one decode "
         "step of the batch)."});
  }
  write(dir / "plots.gp", gp.str());

  // Render.
  std::string gnuplot = opt.gnuplot;
  if (gnuplot.empty())
    for (const char* d : {"/usr/bin", "/usr/local/bin", "/bin"})
      if (::access((std::string(d) + "/gnuplot").c_str(), X_OK) == 0) {
        gnuplot = std::string(d) + "/gnuplot";
        break;
      }
  bool rendered = false;
  if (!gnuplot.empty() && ::access(gnuplot.c_str(), X_OK) != 0) {
    out << "gnuplot at " << gnuplot << " is not an executable file\n";
    gnuplot.clear();
  }
  if (gnuplot.empty()) {
    out << "gnuplot not found: the data and scripts are in " << dir.string() << "; render with: cd "
        << dir.string() << " && gnuplot plots.gp (or pass --gnuplot PATH)\n";
  } else {
    const pid_t pid = ::fork();
    if (pid == 0) {  // no shell: the script name is fixed, the directory is the child's cwd
      if (::chdir(dir.c_str()) != 0) ::_exit(126);
      const int log = ::open("gnuplot.log", O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (log >= 0) {
        ::dup2(log, 1);
        ::dup2(log, 2);
      }
      ::execl(gnuplot.c_str(), "gnuplot", "plots.gp", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
      out << "costcurve report: gnuplot (" << gnuplot << ") failed; see "
          << (dir / "gnuplot.log").string() << "\n";
      return 1;
    }
    rendered = true;
  }

  // summary.md and index.html.
  std::ostringstream md, head, html, figures;
  md << "# costcurve report\n\n";
  head << "<!doctype html><html><head><meta charset='utf-8'><title>costcurve report</title>"
          "<style>body{font-family:sans-serif;max-width:1500px;margin:auto;padding:1em}"
          "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px;"
          "text-align:right}th{background:#eee}td:first-child{text-align:left}"
          "figure{margin:2em 0}svg{max-width:100%;height:auto}</style></head><body>"
          "<h1>costcurve report</h1><p>"
       << html_escape(footer) << "</p><h2>Plots</h2>";
  for (const CostFile& c : costs) {
    md << "## " << safe_label(c.label) << " (" << safe_label(c.tier) << ")\n\n"
       << "| model | phase | $/1M at 32K | at 64K | at 128K |\n|---|---|---|---|---|\n";
    html << "<h2>" << html_escape(c.label) << "</h2><table><tr><th>model</th><th>phase</th>"
         << "<th>$/1M tokens at 32K</th><th>at 64K</th><th>at 128K</th></tr>";
    for (const Curve& cv : c.curves) {
      md << "| " << safe_label(cv.model) << " | " << cv.phase;
      html << "<tr><td>" << html_escape(cv.model) << "</td><td>" << html_escape(cv.phase)
           << "</td>";
      for (double t : {32768.0, 65536.0, 131072.0}) {
        const auto it = std::lower_bound(cv.pos.begin(), cv.pos.end(), t);
        const std::string v =
            it == cv.pos.end() ? "-" : fmt(cv.usd[static_cast<std::size_t>(it - cv.pos.begin())]);
        md << " | " << v;
        html << "<td>" << v << "</td>";
      }
      md << " |\n";
      html << "</tr>";
    }
    html << "</table>";
    md << "\n";
    html << "<ul>";
    for (const std::string& w : c.warnings) {
      md << "- **warning**: " << safe_label(w, 1000) << "\n";
      html << "<li><b>warning</b>: " << html_escape(w) << "</li>";
    }
    for (const auto& [k, v] : c.crossovers.items()) {
      const json pos = v.is_object() ? v.value("position", json()) : json();
      const std::string where =
          pos.is_number() ? "from position " + fmt(pos.get<double>(), 5) : "nowhere in range";
      const std::string what = k == "prefill_masked_mha_to_sparse"
                                   ? "DSA prefill switches from masked MHA to the sparse kernel"
                               : k == "prefill_sparse_cheaper_from" ? "sparse is cheaper in prefill"
                               : k == "decode_sparse_cheaper_from"  ? "sparse is cheaper in decode"
                                                                    : k;
      md << "- " << safe_label(what) << " " << where << "\n";
      html << "<li>" << html_escape(what) << " " << html_escape(where) << "</li>";
    }
    for (const json& r : c.ratios)
      html << "<li>sparse/dense cost in " << html_escape(r.value("phase", "")) << " at "
           << html_escape(r.value("position", json()).dump()) << ": "
           << html_escape(fmt(r.value("ratio", 0.0), 3)) << "</li>";
    html << "</ul>";
    for (const json& r : c.ratios) {
      md << "- sparse/dense " << safe_label(r.value("phase", "")) << " at "
         << safe_label(r.value("position", json()).dump()) << ": "
         << safe_label(r.value("ratio", json()).dump()) << "\n";
    }
    if (c.calibration.is_object()) {
      md << "- calibration: " << safe_label(c.calibration.value("calibration", ""))
         << ": predicted "
         << safe_label(c.calibration.value("predicted_tokens_per_s_per_node", json()).dump())
         << " vs published "
         << safe_label(c.calibration.value("published_tokens_per_s_per_node", json()).dump())
         << " tokens/s per node; fitted efficiency "
         << safe_label(c.calibration.value("fitted_efficiency", json()).dump()) << "\n";
      html << "<p>Calibration: " << html_escape(c.calibration.dump()) << "</p>";
    }
    md << "\n";
  }
  for (const ResultsFile& r : results) {
    int ok = 0, skipped = 0, failed = 0;
    for (const PointResult& p : r.points)
      (p.status == PointStatus::ok ? ok : p.status == PointStatus::skipped ? skipped : failed)++;
    const std::string dev = r.has_ceilings ? r.ceilings.device : r.backend;
    md << "## Sweep " << safe_label(r.scenario_name) << " on " << safe_label(dev) << "\n\n"
       << ok << " ok, " << skipped << " skipped, " << failed << " failed; git "
       << safe_label(r.git_sha) << "\n\n| point | median | roofline |\n|---|---|---|\n";
    html << "<h2>Sweep " << html_escape(r.scenario_name) << " on " << html_escape(dev) << "</h2><p>"
         << ok << " ok, " << skipped << " skipped, " << failed << " failed; git "
         << html_escape(r.git_sha) << ", " << html_escape(r.context.value("date", ""))
         << "</p><details><summary>every point</summary><table><tr><th>point</th><th>status</th>"
            "<th>median</th><th>roofline</th></tr>";
    for (const PointResult& p : r.points) {
      const bool okp = p.status == PointStatus::ok;
      const std::string med = okp ? fmt(p.summary.median) + " s" : "-";
      const std::string roof = okp ? fmt(100 * p.roofline_fraction, 3) + "% " + p.bound : "-";
      if (okp) md << "| " << safe_label(p.name) << " | " << med << " | " << roof << " |\n";
      html << "<tr><td>" << html_escape(p.name) << "</td><td>"
           << html_escape(std::string(status_name(p.status)) +
                          (p.reason.empty() ? "" : ": " + p.reason))
           << "</td><td>" << med << "</td><td>" << html_escape(roof) << "</td></tr>";
    }
    html << "</table></details>";
    md << "\n";
  }
  for (const Plot& p : plots) {
    figures << "<figure><h3>" << html_escape(p.title) << "</h3>";
    std::string svg;
    if (rendered) {
      std::ifstream in(dir / (p.name + ".svg"));
      svg.assign(std::istreambuf_iterator<char>(in), {});
      const auto start = svg.find("<svg");
      svg = start == std::string::npos ? "" : svg.substr(start);
    }
    figures << (svg.empty() ? "<p>(not rendered: gnuplot was not available)</p>" : svg)
            << "<figcaption>" << html_escape(p.caption) << " Data: " << html_escape(p.name)
            << "*.csv</figcaption></figure>";
    md << "- " << p.name << ".png: " << safe_label(p.title) << "\n";
  }
  html << "<h2>How to reproduce</h2><pre>costcurve sweep scenarios/cpu-default.json\n"
          "costcurve cost RESULTS --hardware ... --price ... --deployment ...\n"
          "costcurve report RESULTS --cost COST --out DIR</pre></body></html>\n";
  write(dir / "summary.md", md.str());
  write(dir / "index.html", head.str() + figures.str() + html.str());
  out << "report: " << (dir / "index.html").string() << " (" << plots.size() << " plots"
      << (rendered ? "" : ", not rendered") << "), " << (dir / "summary.md").string() << "\n";
  return 0;
}

}  // namespace costcurve
