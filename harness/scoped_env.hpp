// An environment variable set for a scope and restored after it (or unset, where the process did
// not have it): the kernels' COSTCURVE_* switches are read at each launch, so tests and
// costcurve_probe select variants this way.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>

namespace costcurve {

class ScopedEnv {
public:
  ScopedEnv(const std::string& name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    setenv(name_.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_)
      setenv(name_.c_str(), old_->c_str(), 1);
    else
      unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace costcurve
