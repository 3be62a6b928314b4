// Runs the real costcurve binary (COSTCURVE_BINARY) as a child process for CLI tests: stdout and
// stderr captured together, a time limit, and faults applied in the child before exec (a file
// size limit with SIGXFSZ ignored, so that writes fail with EFBIG as on a full disk; the
// capabilities that let root write anywhere dropped, so that directory permissions hold).
#pragma once

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace costcurve::test {

struct CliOptions {
  std::filesystem::path cwd;         // empty: the test's own
  double timeout_s = 60;             // then SIGKILL
  std::uint64_t max_file_bytes = 0;  // RLIMIT_FSIZE in the child (0: none), SIGXFSZ ignored
  bool drop_dac = false;             // drop CAP_DAC_OVERRIDE & co. (root ignores permissions)
};

struct CliResult {
  bool exited = false;  // a normal exit, with `code`
  int code = -1;
  int signal = 0;  // the signal that ended it, if one did
  bool timed_out = false;
  std::string output;  // stdout and stderr, interleaved

  std::string describe() const {
    std::string s = timed_out ? "timed out"
                    : exited  ? "exit " + std::to_string(code)
                              : "killed by signal " + std::to_string(signal);
    return s + "; output:\n" + output;
  }
};

// Removes the capabilities that bypass file permissions from this process and from anything it
// executes. True when they are gone (or were never held).
inline bool drop_dac_capabilities() {
  constexpr int kCaps[] = {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_LINUX_IMMUTABLE};
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  bool held = ::geteuid() == 0;  // root regains the bounding set on exec
  for (int cap : kCaps)
    held |= ((data[cap / 32].effective | data[cap / 32].permitted) >> (cap % 32)) & 1;
  if (!held) return true;  // an ordinary user: permissions already hold
  for (int cap : kCaps)
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) return false;
  for (int cap : kCaps) {
    const unsigned bit = 1u << (cap % 32);
    auto& d = data[cap / 32];
    d.effective &= ~bit;
    d.permitted &= ~bit;
    d.inheritable &= ~bit;
  }
  if (::syscall(SYS_capset, &header, data) != 0) return false;
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  return true;
}

// Whether a child with drop_dac set is refused a file in a directory of mode 0555 (false where
// the capabilities cannot be dropped: then permissions cannot be tested as root).
inline bool permissions_hold(const std::filesystem::path& scratch) {
  namespace fs = std::filesystem;
  const fs::path dir = scratch / "perm-probe";
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                           fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!drop_dac_capabilities()) ::_exit(2);
    const int fd = ::open((dir / "x").c_str(), O_WRONLY | O_CREAT, 0644);
    ::_exit(fd < 0 ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  fs::permissions(dir, fs::perms::owner_all);
  fs::remove_all(dir);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

inline CliResult run_cli(const std::vector<std::string>& args, const CliOptions& o = {},
                         const std::string& program = COSTCURVE_BINARY) {
  CliResult r;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    r.output = std::string("pipe: ") + std::strerror(errno);
    return r;
  }
  std::vector<std::string> argv_s = {program};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!o.cwd.empty() && ::chdir(o.cwd.c_str()) != 0) ::_exit(124);
    const int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    if (o.max_file_bytes > 0) {
      ::signal(SIGXFSZ, SIG_IGN);  // exec keeps it ignored: writes fail with EFBIG instead
      const rlimit lim{o.max_file_bytes, o.max_file_bytes};
      if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) ::_exit(125);
    }
    if (o.drop_dac && !drop_dac_capabilities()) ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<long>(o.timeout_s * 1000));
  char buf[1 << 16];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) {
      r.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<long>(left, 1000)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (r.output.size() < (std::size_t{16} << 20))
      r.output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exited = WIFEXITED(status);
  r.code = r.exited ? WEXITSTATUS(status) : -1;
  r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return r;
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Every regular file and directory under `root`, with the content of files (for before/after
// comparisons).
inline std::map<std::string, std::string> snapshot(const std::filesystem::path& root) {
  namespace fs = std::filesystem;
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string rel = fs::relative(it->path(), root).string();
    out[rel] = it->is_regular_file() ? slurp(it->path()) : std::string("<dir>");
  }
  return out;
}

}  // namespace costcurve::test
