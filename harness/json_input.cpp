#include "harness/json_input.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

namespace costcurve {

using nlohmann::json;

namespace {

std::string json_quote(const std::string& s) {
  return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

// Keys that are plain words print as ".key"; anything else as ["key"], so a path is unambiguous.
std::string key_component(const std::string& key) {
  const bool plain = !key.empty() && std::all_of(key.begin(), key.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-';
  });
  // Appending (not "." + key) sidesteps a false -Wrestrict in GCC 12's std::string.
  std::string out(1, plain ? '.' : '[');
  out += plain ? key : json_quote(key) + "]";
  return out;
}

// Messages are printed to terminals: bytes that are not ASCII (nlohmann quotes the offending
// input, which may be invalid UTF-8) are shown as \xNN.
std::string ascii_only(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::string bytes_text(std::uintmax_t n) {
  return std::to_string(n) + " bytes";
}

std::string too_large(std::uintmax_t size, std::size_t max) {
  return "input is " + bytes_text(size) + ", over the limit of " + bytes_text(max);
}

std::string format_number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::string int_expectation(std::int64_t min, std::int64_t max) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  const std::string upper = max == kMax ? "" : " <= " + std::to_string(max);
  if (min == 1) return "expected a positive integer" + upper;
  if (min == 0) return "expected a non-negative integer" + upper;
  if (max == kMax) return "expected an integer >= " + std::to_string(min);
  return "expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
}

std::string number_expectation(double min, double max) {
  constexpr double kMax = std::numeric_limits<double>::max();
  if (min == -kMax && max == kMax) return "expected a finite number";
  if (max == kMax) return "expected a number >= " + format_number(min);
  if (min == -kMax) return "expected a number <= " + format_number(max);
  return "expected a number in [" + format_number(min) + ", " + format_number(max) + "]";
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

bool looks_like_typo(const std::string& a, const std::string& b) {
  return edit_distance(a, b) <= std::max<std::size_t>(1, std::min(a.size(), b.size()) / 4);
}

// Tracks where the parser is, to refuse duplicate keys and deep nesting and to name the JSON path
// of every error. Containers are frames; array frames count their elements.
class PathTracker {
public:
  explicit PathTracker(const std::string& origin) : origin_(origin) {}

  bool on_event(json::parse_event_t event, const json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start: {
        std::string path = current();
        if (!frames_.empty() && !frames_.back().object) ++frames_.back().elements;
        if (static_cast<int>(frames_.size()) >= kMaxInputDepth)
          input_error(origin_, path,
                      "nested deeper than " + std::to_string(kMaxInputDepth) + " levels");
        frames_.push_back({std::move(path), event == json::parse_event_t::object_start, {}, {}});
        break;
      }
      case json::parse_event_t::key: {
        Frame& f = frames_.back();
        f.key = parsed.get<std::string>();
        if (!f.keys.insert(f.key).second)
          input_error(origin_, current(),
                      "duplicate key '" + ascii_only(f.key) + "': each key may appear only once");
        break;
      }
      case json::parse_event_t::value:
        if (!frames_.empty() && !frames_.back().object) ++frames_.back().elements;
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end: frames_.pop_back(); break;
    }
    return true;
  }

  // The innermost object or array being parsed ("$" at the top).
  std::string container() const { return frames_.empty() ? "$" : frames_.back().path; }

  // The value being parsed now: the last key of an object, the next element of an array.
  std::string current() const {
    if (frames_.empty()) return "$";
    const Frame& f = frames_.back();
    if (f.object) return f.keys.empty() ? f.path : f.path + key_component(f.key);
    return f.path + "[" + std::to_string(f.elements) + "]";
  }

private:
  struct Frame {
    std::string path;
    bool object;
    std::set<std::string> keys;
    std::string key;
    std::size_t elements = 0;
  };
  const std::string& origin_;
  std::vector<Frame> frames_;
};

// "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error ..." ->
// "line 1, column 5: syntax error ..."
std::string strip_nlohmann_prefix(const std::string& what) {
  std::string s = what;
  if (s.rfind("[json.exception.", 0) == 0) {
    const std::size_t end = s.find("] ");
    if (end != std::string::npos) s.erase(0, end + 2);
  }
  if (s.rfind("parse error at ", 0) == 0) s.erase(0, 15);
  return ascii_only(s);
}

}  // namespace

void input_error(const std::string& origin, const std::string& path, const std::string& what) {
  throw InputError(origin + ": " + path + ": " + what);
}

std::string describe_value(const json& v) {
  switch (v.type()) {
    case json::value_t::object: return v.empty() ? "an empty object" : "an object";
    case json::value_t::array: return v.empty() ? "an empty array" : "an array";
    case json::value_t::string: {
      std::string s = v.get<std::string>();
      if (s.size() > 40) s = s.substr(0, 37) + "...";
      return ascii_only(json_quote(s));
    }
    case json::value_t::binary: return "binary data";
    case json::value_t::discarded: return "nothing";
    default: return v.dump();
  }
}

nlohmann::json parse_json(const std::string& text, const std::string& origin,
                          std::size_t max_bytes) {
  if (text.size() > max_bytes) input_error(origin, "$", too_large(text.size(), max_bytes));
  PathTracker tracker(origin);
  try {
    return json::parse(text, [&](int, json::parse_event_t event, json& parsed) {
      return tracker.on_event(event, parsed);
    });
  } catch (const json::parse_error& e) {
    std::string what = strip_nlohmann_prefix(e.what());
    // A key that does not parse belongs to its object, not to the key read before it.
    const std::string path = what.find("while parsing object key") != std::string::npos
                                 ? tracker.container()
                                 : tracker.current();
    const std::size_t colon = what.find(": ");
    if (what.rfind("line ", 0) == 0 && colon != std::string::npos)
      what = "(" + what.substr(0, colon) + ")" + what.substr(colon);
    else
      what = ": " + what;
    input_error(origin, path, "invalid JSON at byte " + std::to_string(e.byte) + " " + what);
  } catch (const json::exception& e) {  // e.g. a number too large for a double
    input_error(origin, tracker.current(), "invalid JSON: " + strip_nlohmann_prefix(e.what()));
  }
}

std::string read_text_file(const std::filesystem::path& file, std::size_t max_bytes) {
  namespace fs = std::filesystem;
  const std::string origin = file.string();
  std::error_code ec;
  const fs::file_status st = fs::status(file, ec);
  if (!fs::exists(st)) input_error(origin, "$", "cannot read: no such file");
  if (!fs::is_regular_file(st)) input_error(origin, "$", "cannot read: not a regular file");
  const std::uintmax_t size = fs::file_size(file, ec);
  if (ec) input_error(origin, "$", "cannot read: " + ec.message());
  if (size > max_bytes) input_error(origin, "$", too_large(size, max_bytes));
  std::ifstream in(file, std::ios::binary);
  if (!in) input_error(origin, "$", "cannot open for reading");
  // The file may grow after it was measured: the limit holds for what is actually read.
  std::string text;
  text.reserve(static_cast<std::size_t>(size));
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > max_bytes) input_error(origin, "$", too_large(text.size(), max_bytes));
  }
  if (in.bad()) input_error(origin, "$", "read error");
  return text;
}

nlohmann::json read_json_file(const std::filesystem::path& file, std::size_t max_bytes) {
  return parse_json(read_text_file(file, max_bytes), file.string(), max_bytes);
}

std::int64_t json_integer(const json& v, const std::string& origin, const std::string& path,
                          std::int64_t min, std::int64_t max) {
  // nlohmann stores non-negative integers as unsigned; floats and booleans are never integers.
  bool ok = false;
  std::int64_t x = 0;
  if (v.is_number_unsigned()) {
    ok = v.get<std::uint64_t>() <=
         static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (ok) x = static_cast<std::int64_t>(v.get<std::uint64_t>());
  } else if (v.is_number_integer()) {
    ok = true;
    x = v.get<std::int64_t>();
  }
  if (!ok || x < min || x > max)
    input_error(origin, path, int_expectation(min, max) + ", got " + describe_value(v));
  return x;
}

double json_number(const json& v, const std::string& origin, const std::string& path, double min,
                   double max) {
  if (!v.is_number())
    input_error(origin, path, number_expectation(min, max) + ", got " + describe_value(v));
  const double d = v.get<double>();
  if (!std::isfinite(d) || d < min || d > max)
    input_error(origin, path, number_expectation(min, max) + ", got " + describe_value(v));
  return d;
}

std::string json_string(const json& v, const std::string& origin, const std::string& path) {
  if (!v.is_string()) input_error(origin, path, "expected a string, got " + describe_value(v));
  return v.get<std::string>();
}

std::string json_path_key(const std::string& path, const std::string& key) {
  return path + key_component(key);
}

std::string json_path_index(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

JsonObject::JsonObject(const json& j, std::string origin, std::string path)
    : j_(&j), origin_(std::move(origin)), path_(std::move(path)) {
  if (!j.is_object()) input_error(origin_, path_, "expected an object, got " + describe_value(j));
}

bool JsonObject::has(const std::string& key) const {
  seen_.insert(key);
  return j_->contains(key);
}

std::string JsonObject::path(const std::string& key) const {
  return json_path_key(path_, key);
}

void JsonObject::fail(const std::string& key, const std::string& what) const {
  input_error(origin_, path(key), what);
}

const json& JsonObject::at(const std::string& key) {
  seen_.insert(key);
  const auto it = j_->find(key);
  if (it != j_->end()) return *it;
  // A mistyped required key would otherwise be reported as missing, hiding the typo.
  for (const auto& [k, v] : j_->items())
    if (!seen_.count(k) && looks_like_typo(k, key))
      fail(key, "missing required field '" + key + "' (found unknown field '" + ascii_only(k) +
                    "': a typo?)");
  fail(key, "missing required field '" + key + "'");
}

std::string JsonObject::string(const std::string& key) {
  return json_string(at(key), origin_, path(key));
}

std::int64_t JsonObject::integer(const std::string& key, std::int64_t min, std::int64_t max) {
  return json_integer(at(key), origin_, path(key), min, max);
}

double JsonObject::number(const std::string& key, double min, double max) {
  return json_number(at(key), origin_, path(key), min, max);
}

bool JsonObject::boolean(const std::string& key) {
  const json& v = at(key);
  if (!v.is_boolean()) fail(key, "expected true or false, got " + describe_value(v));
  return v.get<bool>();
}

JsonObject JsonObject::object(const std::string& key) {
  return {at(key), origin_, path(key)};
}

const json& JsonObject::array(const std::string& key) {
  const json& v = at(key);
  if (!v.is_array() || v.empty()) fail(key, "expected a non-empty array, got " + describe_value(v));
  return v;
}

const json& JsonObject::any(const std::string& key) {
  return at(key);
}

std::string JsonObject::string_or(const std::string& key, const std::string& def) {
  return has(key) ? string(key) : def;
}

std::int64_t JsonObject::integer_or(const std::string& key, std::int64_t def, std::int64_t min,
                                    std::int64_t max) {
  return has(key) ? integer(key, min, max) : def;
}

double JsonObject::number_or(const std::string& key, double def, double min, double max) {
  return has(key) ? number(key, min, max) : def;
}

bool JsonObject::boolean_or(const std::string& key, bool def) {
  return has(key) ? boolean(key) : def;
}

void JsonObject::finish() const {
  for (const auto& [k, v] : j_->items()) {
    if (seen_.count(k)) continue;
    std::string known, hint;
    for (const std::string& s : seen_) {
      known += (known.empty() ? "" : ", ") + s;
      if (hint.empty() && looks_like_typo(k, s)) hint = "did you mean '" + s + "'? ";
    }
    fail(k, "unknown field '" + ascii_only(k) + "' (" + hint + "known: " + known + ")");
  }
}

namespace {

bool name_characters(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '_' || c == '-';
  });
}

}  // namespace

bool valid_name(const std::string& s) {
  return name_characters(s) && s.front() != '.' && s.size() <= kMaxNameLength;
}

std::string name_field(JsonObject& o, const std::string& key) {
  std::string s = o.string(key);
  if (!name_characters(s))
    o.fail(key, "expected a name of letters, digits, '.', '_' and '-', got " + describe_value(s));
  if (s.front() == '.')
    o.fail(key, "expected a name that does not start with '.', got " + describe_value(s));
  if (s.size() > kMaxNameLength)
    o.fail(key, "expected a name of at most " + std::to_string(kMaxNameLength) +
                    " characters, got " + std::to_string(s.size()));
  return s;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace costcurve
