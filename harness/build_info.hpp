// What built this binary: recorded with every result so a number can be traced to its code.
#pragma once

namespace costcurve {

struct BuildInfo {
  const char* version;
  const char* git_sha;  // "-dirty" when built from uncommitted changes
  const char* compiler;
  const char* flags;
  const char* build_type;
  bool cuda;
};
const BuildInfo& build_info();

}  // namespace costcurve
