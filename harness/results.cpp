#include "harness/results.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>
#include <thread>

#include "harness/json_input.hpp"
#include "harness/shard.hpp"

namespace costcurve {
namespace {

using nlohmann::json;

// A string from a file as a JSON literal in plain ASCII (messages go to terminals).
std::string ascii_literal(const std::string& s) {
  return json(s).dump(-1, ' ', true, json::error_handler_t::replace);
}

// One Google Benchmark entry: the fields tools/compare.py reads. Times are always in
// microseconds: compare.py subtracts times of the same name without converting units.
json gb_entry(const PointResult& r, int family, const std::string& name, const char* run_type,
              double seconds, bool rates = true) {
  const double us = seconds * 1e6;
  json e = {{"name", name},
            {"family_index", family},
            {"per_family_instance_index", 0},
            {"run_name", r.name},
            {"run_type", run_type},
            {"repetitions", static_cast<int>(r.samples_s.size())},
            {"threads", 1},
            {"iterations", r.iterations},
            {"real_time", us},
            {"cpu_time", us},
            {"time_unit", "us"}};
  if (rates && seconds > 0) {
    e["FLOP/s"] = r.flops / seconds;
    e["bytes/s"] = r.bytes / seconds;
    e["tokens/s"] = r.tokens / seconds;
  }
  return e;
}

json point_json(const PointResult& r) {
  const Point& p = r.point;
  json j = {{"name", r.name},
            {"backend", p.backend},
            {"model", p.model},
            {"op", op_name(p.op)},
            {"phase", phase_name(p.phase)},
            {"position", p.position},
            {"batch", p.batch},
            {"s_q", p.s_q},
            {"top_k", p.top_k},
            {"dtype", dtype_name(p.dtype)},
            {"status", status_name(r.status)},
            {"flops", r.flops},
            {"bytes", r.bytes},
            {"memory_bytes", r.memory_bytes},
            {"tokens", r.tokens}};
  if (!r.reason.empty()) j["reason"] = r.reason;
  if (r.validated)
    j["validation"] = {{"rel_l2", r.rel_l2},
                       {"tolerance", r.tolerance},
                       {"tokens_checked", r.tokens_checked},
                       {"tokens_total", r.tokens_total}};
  if (r.status == PointStatus::ok) {
    const Summary& s = r.summary;
    j["timing"] = {{"samples_s", r.samples_s},
                   {"iterations", r.iterations},
                   {"median_s", s.median},
                   {"p10_s", s.p10},
                   {"p90_s", s.p90},
                   {"mean_s", s.mean},
                   {"stddev_s", s.stddev},
                   {"cv", s.cv},
                   {"stop_reason", r.stop_reason}};
    j["rates"] = {{"tokens_per_s", r.tokens / s.median},
                  {"flop_per_s", r.flops / s.median},
                  {"bytes_per_s", r.bytes / s.median},
                  {"arithmetic_intensity", r.bytes > 0 ? r.flops / r.bytes : 0.0}};
    j["roofline"] = {{"floor_s", r.floor_s}, {"bound", r.bound}, {"fraction", r.roofline_fraction}};
  }
  if (r.input_sets > 0) j["input_sets"] = r.input_sets;
  if (!r.state_before.empty() || !r.state_after.empty()) {
    const auto object = [](const DeviceState& s) {
      json o = json::object();
      for (const auto& [k, v] : s)
        if (std::isfinite(v)) o[k] = v;  // a reading that failed is left out, not written as null
      return o;
    };
    j["device_state"] = {{"before", object(r.state_before)}, {"after", object(r.state_after)}};
  }
  return j;
}

PointResult point_from_json(const json& j, const std::string& origin, const std::string& path) {
  JsonObject o(j, origin, path);
  PointResult r;
  r.name = o.string("name");
  Point& p = r.point;
  p.backend = o.string("backend");
  p.model = o.string("model");
  const std::string op = o.string("op");
  if (!parse_op(op, p.op)) o.fail("op", "unknown operation " + describe_value(op));
  const std::string phase = o.string("phase");
  if (phase == "prefill")
    p.phase = Phase::prefill;
  else if (phase == "decode")
    p.phase = Phase::decode;
  else
    o.fail("phase", "expected \"prefill\" or \"decode\", got " + describe_value(phase));
  p.position = o.integer("position", 1);
  p.batch = o.integer("batch", 1);
  p.s_q = o.integer("s_q", 1);
  p.top_k = static_cast<int>(o.integer("top_k", 0, 1 << 30));
  const std::string dt = o.string("dtype");
  if (!parse_dtype(dt, p.dtype)) o.fail("dtype", "unknown dtype " + describe_value(dt));
  const std::string st = o.string("status");
  if (st == "ok")
    r.status = PointStatus::ok;
  else if (st == "skipped")
    r.status = PointStatus::skipped;
  else if (st == "failed")
    r.status = PointStatus::failed;
  else
    o.fail("status", "expected \"ok\", \"skipped\" or \"failed\", got " + describe_value(st));
  r.reason = o.string_or("reason", "");
  r.flops = o.number("flops", 0);
  r.bytes = o.number("bytes", 0);
  r.memory_bytes = o.number("memory_bytes", 0);
  r.tokens = o.number("tokens", 0);
  if (o.has("validation")) {
    JsonObject v = o.object("validation");
    r.validated = true;
    r.rel_l2 = v.number("rel_l2", 0);
    r.tolerance = v.number("tolerance", 0);
    r.tokens_checked = v.integer("tokens_checked", 0);
    r.tokens_total = v.integer("tokens_total", 0);
    v.finish();
  }
  if (r.status == PointStatus::ok) {
    JsonObject t = o.object("timing");
    const json& samples = t.array("samples_s");
    for (std::size_t i = 0; i < samples.size(); ++i)
      r.samples_s.push_back(
          json_number(samples[i], origin, t.path("samples_s") + "[" + std::to_string(i) + "]", 0));
    r.iterations = t.integer("iterations", 1);
    r.stop_reason = t.string_or("stop_reason", "");
    // Derived fields are recomputed from the samples rather than trusted.
    for (const char* k : {"median_s", "p10_s", "p90_s", "mean_s", "stddev_s", "cv"}) t.number(k, 0);
    t.finish();
    r.summary = summarize(r.samples_s);
    if (!(r.summary.median > 0)) t.fail("samples_s", "expected positive timings");
    // What a rewrite (sweep --resume) derives from the samples and counts must be finite: JSON has
    // no infinity, it would be written as null and the file would no longer load.
    const Summary& s = r.summary;
    if (!std::isfinite(s.max * 1e6) || !std::isfinite(s.stddev * 1e6))
      t.fail("samples_s",
             "expected timings in seconds whose standard deviation (in microseconds "
             "too) is finite, got a largest sample of " +
                 json(s.max).dump());
    for (const auto& [key, count] :
         {std::pair{"tokens", r.tokens}, {"flops", r.flops}, {"bytes", r.bytes}})
      if (!std::isfinite(count / s.median))
        o.fail(key, "expected a count that stays finite per second of the median time (" +
                        json(s.median).dump() + " s), got " + json(count).dump());
    if (r.bytes > 0 && !std::isfinite(r.flops / r.bytes))
      o.fail("flops", "expected flops / bytes (the arithmetic intensity) to be finite, got " +
                          json(r.flops).dump() + " / " + json(r.bytes).dump());
    JsonObject roof = o.object("roofline");
    r.floor_s = roof.number("floor_s", 0);
    r.bound = roof.string("bound");
    r.roofline_fraction = roof.number("fraction", 0);
    roof.finish();
    JsonObject rates = o.object("rates");
    for (const char* k : {"tokens_per_s", "flop_per_s", "bytes_per_s", "arithmetic_intensity"})
      rates.number(k, 0);
    rates.finish();
  }
  // Optional: files written before they were recorded must still load.
  r.input_sets = static_cast<int>(o.integer_or("input_sets", 0, 1, 1 << 20));
  if (o.has("device_state")) {
    JsonObject d = o.object("device_state");
    for (auto [key, state] : {std::pair{"before", &r.state_before}, {"after", &r.state_after}}) {
      if (!d.has(key)) continue;
      JsonObject s = d.object(key);
      for (const auto& [k, v] : j.at("device_state").at(key).items())
        state->emplace_back(k, s.number(k));
      s.finish();
    }
    d.finish();
  }
  o.finish();
  if (r.name != p.name())
    input_error(origin, path + ".name",
                ascii_literal(r.name) + " does not match the point's fields (expected " +
                    ascii_literal(p.name()) + ")");
  return r;
}

ShardRecord shard_from_json(const json& j, const std::string& origin, const std::string& path) {
  JsonObject o(j, origin, path);
  ShardRecord s;
  s.count = static_cast<int>(o.integer("count", 1, kMaxShards));
  s.index = static_cast<int>(o.integer("index", 0, s.count - 1));
  s.filter = o.string_or("filter", "");
  // A --filter regex is compiled again by `costcurve merge`: keep an untrusted one short.
  if (s.filter.size() > 1000)
    o.fail("filter",
           "expected a regex of at most 1000 characters, got " + std::to_string(s.filter.size()));
  const json& names = o.any("points");
  if (!names.is_array()) o.fail("points", "expected an array of point names");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string at = o.path("points") + "[" + std::to_string(i) + "]";
    std::string name = json_string(names[i], origin, at);
    if (!seen.insert(name).second)
      input_error(origin, at, "duplicate point " + ascii_literal(name));
    s.points.push_back(std::move(name));
  }
  o.finish();
  return s;
}

std::string iso_date() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
  return buf;
}

// "cannot write results/x.json: No space left on device (writing results/x.json.tmp.12; the
// previous file, if any, is unchanged)"
[[noreturn]] void io_error(const std::filesystem::path& file, int err, const std::string& step) {
  throw OutputError("cannot write " + file.string() + ": " + std::strerror(err) + " (" + step +
                    "; the previous file, if any, is unchanged)");
}

}  // namespace

std::string_view status_name(PointStatus s) {
  switch (s) {
    case PointStatus::ok: return "ok";
    case PointStatus::skipped: return "skipped";
    case PointStatus::failed: return "failed";
  }
  return "?";
}

const PointResult* ResultsFile::find(const std::string& name) const {
  for (const PointResult& r : points)
    if (r.name == name) return &r;
  return nullptr;
}

json ResultsFile::to_json() const {
  json benchmarks = json::array();
  json pts = json::array();
  int family = 0;
  for (const PointResult& r : points) {
    pts.push_back(point_json(r));
    if (r.status != PointStatus::ok) continue;
    for (std::size_t i = 0; i < r.samples_s.size(); ++i) {
      json e = gb_entry(r, family, r.name, "iteration", r.samples_s[i]);
      e["repetition_index"] = static_cast<int>(i);
      benchmarks.push_back(std::move(e));
    }
    for (auto [agg, value] : {std::pair{"mean", r.summary.mean},
                              {"median", r.summary.median},
                              {"stddev", r.summary.stddev}}) {
      // A rate over a standard deviation means nothing: only central values carry rates.
      json e = gb_entry(r, family, r.name + "_" + agg, "aggregate", value,
                        std::string_view(agg) != "stddev");
      e["aggregate_name"] = agg;
      e["aggregate_unit"] = "time";
      benchmarks.push_back(std::move(e));
    }
    json cv = gb_entry(r, family, r.name + "_cv", "aggregate", 0, false);
    cv["aggregate_name"] = "cv";
    cv["aggregate_unit"] = "percentage";
    cv["real_time"] = cv["cpu_time"] = r.summary.cv;
    benchmarks.push_back(std::move(cv));
    ++family;
  }
  json cc = {{"schema_version", kResultsSchemaVersion},
             {"scenario_name", scenario_name},
             {"scenario_hash", scenario_hash},
             {"scenario", scenario},
             {"git_sha", git_sha},
             {"backend", backend},
             {"points", pts}};
  if (has_ceilings) cc["ceilings"] = ceilings.to_json();
  if (shard)
    cc["shard"] = {{"index", shard->index},
                   {"count", shard->count},
                   {"filter", shard->filter},
                   {"points", shard->points}};
  return {{"context", context}, {"benchmarks", benchmarks}, {"costcurve", cc}};
}

std::string ResultsFile::kernel_selection() const {
  if (!context.is_object()) return "none";
  const auto it = context.find("kernel_env");
  if (it == context.end() || !it->is_object() || it->empty()) return "none";
  std::string out;
  for (const auto& [k, v] : it->items()) {
    if (!out.empty()) out += ' ';
    out += k + "=" + (v.is_string() ? v.get<std::string>() : std::string("?"));
    if (out.size() > 200) return out.substr(0, 200) + "...";
  }
  return out;
}

ResultsFile results_from_json(const json& j, const std::string& origin) {
  JsonObject top(j, origin);
  ResultsFile f;
  f.context = top.any("context");
  if (!f.context.is_object()) input_error(origin, "$.context", "expected an object");
  // Google Benchmark's block is kept as it is; what costcurve reads from it is checked.
  if (f.context.contains("date")) json_string(f.context["date"], origin, "$.context.date");
  if (!top.any("benchmarks").is_array()) input_error(origin, "$.benchmarks", "expected an array");
  JsonObject cc = top.object("costcurve");
  const std::int64_t version = cc.integer("schema_version", 1);
  if (version != kResultsSchemaVersion)
    cc.fail("schema_version", "this costcurve reads schema version " +
                                  std::to_string(kResultsSchemaVersion) + ", the file has " +
                                  std::to_string(version));
  f.scenario_name = cc.string("scenario_name");
  f.scenario_hash = cc.string("scenario_hash");
  f.scenario = cc.any("scenario");
  f.git_sha = cc.string("git_sha");
  f.backend = cc.string("backend");
  if (cc.has("ceilings")) {
    f.ceilings = Ceilings::from_json(j["costcurve"]["ceilings"], origin, cc.path("ceilings"));
    f.has_ceilings = true;
  }
  const json& pts = cc.any("points");
  if (!pts.is_array()) cc.fail("points", "expected an array");
  for (std::size_t i = 0; i < pts.size(); ++i) {
    const std::string path = cc.path("points") + "[" + std::to_string(i) + "]";
    PointResult r = point_from_json(pts[i], origin, path);
    if (f.find(r.name))
      input_error(origin, path + ".name", "duplicate point " + ascii_literal(r.name));
    f.points.push_back(std::move(r));
  }
  if (cc.has("shard")) {  // optional: files of whole sweeps have none
    f.shard = shard_from_json(j["costcurve"]["shard"], origin, cc.path("shard"));
    const std::set<std::string> listed(f.shard->points.begin(), f.shard->points.end());
    for (std::size_t i = 0; i < f.points.size(); ++i)
      if (!listed.count(f.points[i].name))
        input_error(origin, cc.path("points") + "[" + std::to_string(i) + "].name",
                    ascii_literal(f.points[i].name) + " is not one of the points of shard " +
                        std::to_string(f.shard->index) + "/" + std::to_string(f.shard->count) +
                        " (" + cc.path("shard") + ".points)");
  }
  cc.finish();
  top.finish();
  return f;
}

ResultsFile load_results(const std::filesystem::path& file) {
  return results_from_json(read_json_file(file), file.string());
}

void write_atomic(const std::filesystem::path& file, const std::string& content) {
  const std::filesystem::path dir = file.has_parent_path() ? file.parent_path() : ".";
  std::string tmp_name = file.filename().string();
  tmp_name.append(".tmp.").append(std::to_string(::getpid()));
  const std::filesystem::path tmp = dir / tmp_name;
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) io_error(file, errno, "creating " + tmp.string());
  const auto fail = [&](int err, const std::string& step) {
    ::close(fd);
    ::unlink(tmp.c_str());
    io_error(file, err, step + " " + tmp.string());
  };
  const char* p = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail(n < 0 ? errno : ENOSPC, "writing");
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) fail(errno, "syncing");
  if (::close(fd) != 0) {  // e.g. a network file system reporting a full disk only now
    const int err = errno;
    ::unlink(tmp.c_str());
    io_error(file, err, "closing " + tmp.string());
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    io_error(file, err, "renaming " + tmp.string() + " over it");
  }
  // The rename itself must survive a power cut.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void check_writable(const std::filesystem::path& file) {
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec))
    throw OutputError("cannot write " + file.string() + ": it is a directory");
  const std::filesystem::path dir = file.has_parent_path() ? file.parent_path() : ".";
  // The temporary file write_atomic will use: one killed right here leaves what a killed write
  // would, which `sweep --resume` removes.
  const std::filesystem::path probe =
      dir / (file.filename().string() + ".tmp." + std::to_string(::getpid()));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw OutputError("cannot write " + file.string() + ": " + std::strerror(errno) +
                      " (creating a file in " + dir.string() + ")");
  ::close(fd);
  ::unlink(probe.c_str());
}

json benchmark_context(const std::string& executable) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  double load[3] = {0, 0, 0};
  if (std::ifstream in("/proc/loadavg"); in) in >> load[0] >> load[1] >> load[2];
  double mhz = 0;
  if (std::ifstream in("/proc/cpuinfo"); in)
    for (std::string line; std::getline(in, line);)
      if (line.rfind("cpu MHz", 0) == 0) {
        mhz = std::atof(line.substr(line.find(':') + 1).c_str());
        break;
      }
  return {{"date", iso_date()},
          {"host_name", host},
          {"executable", executable},
          {"num_cpus", static_cast<int>(std::thread::hardware_concurrency())},
          {"mhz_per_cpu", static_cast<int>(mhz)},
          {"cpu_scaling_enabled", false},
          {"caches", json::array()},
          {"load_avg", {load[0], load[1], load[2]}},
          {"library_build_type", "release"}};
}

}  // namespace costcurve
