// Reading untrusted JSON (scenarios, model/hardware/pricing specs, results files): size and depth
// limits, duplicate keys refused, and typed field access whose errors name the file and JSON path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace costcurve {

// Message format: "<origin>: <$.json.path>: <what was wrong and what was expected>".
class InputError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

inline constexpr std::size_t kMaxInputBytes = std::size_t{64} << 20;
inline constexpr int kMaxInputDepth = 64;

// Parses JSON text; refuses text over max_bytes, nesting deeper than kMaxInputDepth, duplicate keys
// in an object, and invalid UTF-8 / syntax (with the byte offset). Throws InputError.
nlohmann::json parse_json(const std::string& text, const std::string& origin,
                          std::size_t max_bytes = kMaxInputBytes);
// Reads and parses a file (refusing non-regular files and files over max_bytes before reading).
nlohmann::json read_json_file(const std::filesystem::path& file,
                              std::size_t max_bytes = kMaxInputBytes);
// The same checks, returning the raw text (messages use "$" as the path).
std::string read_text_file(const std::filesystem::path& file,
                           std::size_t max_bytes = kMaxInputBytes);

// A JSON object being read field by field. finish() refuses keys that were never asked for, so a
// mistyped key is an error, never a silent default.
class JsonObject {
public:
  // Throws InputError if j is not an object.
  JsonObject(const nlohmann::json& j, std::string origin, std::string path = "$");

  // Asking about a key makes it a known key for finish(), present or not.
  bool has(const std::string& key) const;
  // Required fields (throw when missing or of the wrong type / out of range).
  std::string string(const std::string& key);
  std::int64_t integer(const std::string& key, std::int64_t min = 1,
                       std::int64_t max = std::numeric_limits<std::int64_t>::max());
  double number(const std::string& key, double min = -std::numeric_limits<double>::max(),
                double max = std::numeric_limits<double>::max());
  bool boolean(const std::string& key);
  JsonObject object(const std::string& key);
  const nlohmann::json& array(const std::string& key);  // must be a non-empty array
  const nlohmann::json& any(const std::string& key);    // any type, present
  // Optional fields: the default when absent, an error when present but wrong.
  std::string string_or(const std::string& key, const std::string& def);
  std::int64_t integer_or(const std::string& key, std::int64_t def, std::int64_t min = 1,
                          std::int64_t max = std::numeric_limits<std::int64_t>::max());
  double number_or(const std::string& key, double def,
                   double min = -std::numeric_limits<double>::max(),
                   double max = std::numeric_limits<double>::max());
  bool boolean_or(const std::string& key, bool def);

  std::string path(const std::string& key) const;  // e.g. "$.sweep.positions"
  const std::string& origin() const { return origin_; }
  [[noreturn]] void fail(const std::string& key, const std::string& what) const;
  // Throws on keys never read, naming the first one and listing the known ones.
  void finish() const;

private:
  const nlohmann::json& at(const std::string& key);
  const nlohmann::json* j_;
  std::string origin_, path_;
  mutable std::set<std::string> seen_;  // keys asked for: the known keys
};

// Error for an array element or other value at `path`: "<origin>: <path>: <what>".
[[noreturn]] void input_error(const std::string& origin, const std::string& path,
                              const std::string& what);
// A name safe in file names and paths: letters, digits, '.', '_' and '-' only, not starting with
// '.' (no "..", no hidden file), at most kMaxNameLength characters.
inline constexpr std::size_t kMaxNameLength = 128;
bool valid_name(const std::string& s);
// A required string field that must be a valid_name().
std::string name_field(JsonObject& o, const std::string& key);
// "a, b, c", for lists of known values in messages.
std::string join(const std::vector<std::string>& v);

// A short rendering of a JSON value for messages ("-5", "\"abc\"", "an object", ...).
std::string describe_value(const nlohmann::json& v);

// Typed reads of a value that is not an object field (array elements); the same checks and
// messages as JsonObject's.
std::int64_t json_integer(const nlohmann::json& v, const std::string& origin,
                          const std::string& path, std::int64_t min = 1,
                          std::int64_t max = std::numeric_limits<std::int64_t>::max());
double json_number(const nlohmann::json& v, const std::string& origin, const std::string& path,
                   double min = -std::numeric_limits<double>::max(),
                   double max = std::numeric_limits<double>::max());
std::string json_string(const nlohmann::json& v, const std::string& origin,
                        const std::string& path);
// Path building: json_path_key("$.sweep", "top_k") == "$.sweep.top_k",
// json_path_index("$.models", 2) == "$.models[2]".
std::string json_path_key(const std::string& path, const std::string& key);
std::string json_path_index(const std::string& path, std::size_t i);

}  // namespace costcurve
