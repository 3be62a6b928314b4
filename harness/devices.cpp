#include "harness/devices.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <ostream>
#include <set>
#include <sstream>
#include <thread>

#include "harness/json_input.hpp"
#include "harness/merge.hpp"
#include "harness/results.hpp"
#include "harness/shard.hpp"

extern char** environ;

namespace costcurve {
namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP};

volatile std::sig_atomic_t g_signal = 0;
extern "C" void on_signal(int s) {
  g_signal = s;
}

// While alive, the forwarded signals are blocked except inside ppoll() (so none is lost between
// two checks) and caught into g_signal; destroyed, everything is as it was.
class SignalGuard {
public:
  SignalGuard() {
    sigemptyset(&set_);
    for (int s : kForwarded) sigaddset(&set_, s);
    sigprocmask(SIG_BLOCK, &set_, &old_mask_);
    g_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (std::size_t i = 0; i < std::size(kForwarded); ++i) {
      sigaction(kForwarded[i], nullptr, &old_[i]);
      if (old_[i].sa_handler != SIG_IGN) sigaction(kForwarded[i], &sa, nullptr);  // nohup holds
    }
    wait_mask_ = old_mask_;
    for (int s : kForwarded) sigdelset(&wait_mask_, s);
  }
  ~SignalGuard() {
    for (std::size_t i = 0; i < std::size(kForwarded); ++i)
      sigaction(kForwarded[i], &old_[i], nullptr);
    sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
  }
  // In a forked child before exec: async-signal-safe calls only.
  void restore_in_child() const {
    for (std::size_t i = 0; i < std::size(kForwarded); ++i)
      sigaction(kForwarded[i], &old_[i], nullptr);
    sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
  }
  const sigset_t* wait_mask() const { return &wait_mask_; }

private:
  sigset_t set_, old_mask_, wait_mask_;
  struct sigaction old_[std::size(kForwarded)];
};

struct Child {
  int device = 0, index = 0;
  std::filesystem::path part, log_path;
  std::vector<std::string> argv, env;
  pid_t pid = -1;
  int fd = -1, log = -1;
  std::string partial;  // output after the last newline
  int status = 0;
};

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("/proc/self/exe");
}

// The value of CUDA_VISIBLE_DEVICES for `ordinal`: ordinals count the devices this process sees,
// so under a scheduler that set CUDA_VISIBLE_DEVICES=4,5 ordinal 1 is device 5.
std::string visible_device(int ordinal) {
  const char* outer = std::getenv("CUDA_VISIBLE_DEVICES");
  if (!outer || !*outer) return std::to_string(ordinal);
  std::vector<std::string> list;
  std::stringstream ss(outer);
  for (std::string item; std::getline(ss, item, ',');) list.push_back(item);
  if (static_cast<std::size_t>(ordinal) >= list.size())
    throw InputError("--devices: device " + std::to_string(ordinal) + " is not one of the " +
                     std::to_string(list.size()) + " that CUDA_VISIBLE_DEVICES=" +
                     describe_value(nlohmann::json(outer)) + " makes visible");
  return list[static_cast<std::size_t>(ordinal)];
}

std::vector<std::string> child_env(const std::string& backend, int device) {
  std::vector<std::string> env;
  const bool gpu = backend != "cpu";
  const std::string visible = gpu ? visible_device(device) : "";
  for (char** e = environ; *e; ++e)
    if (!gpu || std::strncmp(*e, "CUDA_VISIBLE_DEVICES=", 21) != 0) env.emplace_back(*e);
  if (gpu) env.push_back("CUDA_VISIBLE_DEVICES=" + visible);
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& v) {
  std::vector<char*> p;
  for (std::string& s : v) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

void write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;  // a log that cannot be written does not stop the sweep
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

// fork + exec, never a shell: the arguments reach the child as they are.
bool spawn(Child& c, const SignalGuard& signals, std::string& error) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    error = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  std::vector<char*> argv = pointers(c.argv), envp = pointers(c.env);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    error = std::string("fork: ") + std::strerror(errno);
    ::close(fds[0]);
    ::close(fds[1]);
    return false;
  }
  if (pid == 0) {
    // Dies with the parent even when the parent is killed outright (SIGKILL cannot be forwarded).
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(125);
    signals.restore_in_child();
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::execve(argv[0], argv.data(), envp.data());
    static const char msg[] = "costcurve: cannot execute the costcurve binary for this shard\n";
    write_all(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(fds[1]);
  c.pid = pid;
  c.fd = fds[0];
  return true;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// Reads what the children write until every one has closed its output, forwarding a signal the
// parent receives to every child once.
void pump(std::vector<Child>& children, const SignalGuard& signals, std::ostream& out) {
  bool forwarded = false;
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<Child*> owners;
    for (Child& c : children)
      if (c.fd >= 0) {
        fds.push_back({c.fd, POLLIN, 0});
        owners.push_back(&c);
      }
    if (fds.empty()) return;
    const int ready = ::ppoll(fds.data(), fds.size(), nullptr, signals.wait_mask());
    if (g_signal != 0 && !forwarded) {
      forwarded = true;
      for (Child& c : children)
        if (c.pid > 0) ::kill(c.pid, g_signal);
    }
    if (ready <= 0) continue;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Child& c = *owners[i];
      char buf[1 << 14];
      const ssize_t n = ::read(c.fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n > 0) {
        if (c.log >= 0) write_all(c.log, buf, static_cast<std::size_t>(n));
        c.partial.append(buf, static_cast<std::size_t>(n));
      }
      std::size_t nl;
      while ((nl = c.partial.find('\n')) != std::string::npos) {
        out << "[dev " << c.device << "] " << c.partial.substr(0, nl + 1);
        c.partial.erase(0, nl + 1);
      }
      if (n <= 0) {  // end of output
        if (!c.partial.empty()) out << "[dev " << c.device << "] " << c.partial << "\n";
        c.partial.clear();
        ::close(c.fd);
        c.fd = -1;
      }
      out.flush();
    }
  }
}

}  // namespace

std::vector<int> parse_devices(const std::string& text) {
  const std::string shown = describe_value(nlohmann::json(text));
  std::vector<int> devices;
  std::set<int> seen;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma - start);
    if (item.empty() || item.size() > 4 ||
        item.find_first_not_of("0123456789") != std::string::npos)
      throw InputError("--devices " + shown +
                       ": expected device ordinals separated by commas, e.g. 0,1,2,3");
    const int d = std::stoi(item);
    if (!seen.insert(d).second)
      throw InputError("--devices " + shown + ": device " + item +
                       " is listed twice (one shard per device)");
    devices.push_back(d);
    if (comma == std::string::npos) return devices;
    start = comma + 1;
  }
}

std::filesystem::path shard_part_path(const std::filesystem::path& out, int index, int count) {
  return out.string() + ".shard-" + std::to_string(index) + "-of-" + std::to_string(count) +
         ".json";
}

int run_devices(const SweepOptions& opt, const std::string& device_list, std::ostream& out) {
  const auto refuse = [&](const std::string& why) {
    out << "costcurve sweep: " << why << "\n";
    return kExitUsage;
  };
  if (!opt.shard.empty())
    return refuse("--devices runs one shard per device itself; it cannot take --shard too");
  std::vector<int> devices;
  try {
    devices = parse_devices(device_list);
  } catch (const InputError& e) {
    return refuse(e.what());
  }
  Scenario sc;
  std::vector<Point> points;
  if (const int rc = select_points(opt, sc, points, out); rc != 0) return rc;
  const std::string backend = sc.backends.front();
  const int count = static_cast<int>(devices.size());
  if (opt.dry_run) {
    for (int i = 0; i < count; ++i) {
      SweepOptions o = opt;
      o.shard = std::to_string(i) + "/" + std::to_string(count);
      out << "device " << devices[static_cast<std::size_t>(i)] << ": ";
      if (const int rc = run_sweep(o, out); rc != 0) return rc;
    }
    return 0;
  }
  const std::filesystem::path file =
      opt.out.empty() ? default_results_path(sc.name, backend) : opt.out;
  std::vector<Child> children(devices.size());
  const std::string exe = self_exe();
  // CPU "devices" share the cores: each child gets its share unless --threads says otherwise.
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = opt.threads > 0 || backend != "cpu" ? opt.threads : std::max(1, hw / count);
  try {
    for (int i = 0; i < count; ++i) {
      Child& c = children[static_cast<std::size_t>(i)];
      c.device = devices[static_cast<std::size_t>(i)];
      c.index = i;
      c.part = shard_part_path(file, i, count);
      std::string log = c.part.string();
      c.log_path = log.substr(0, log.size() - 5) + ".log";
      if (!opt.resume && std::filesystem::exists(c.part))
        return refuse(c.part.string() + " exists: pass --resume to continue every shard");
      c.argv = {exe,
                "sweep",
                opt.scenario.string(),
                "--backend",
                backend,
                "--shard",
                std::to_string(i) + "/" + std::to_string(count),
                "--out",
                c.part.string(),
                "--seed",
                std::to_string(opt.seed)};
      if (threads > 0) c.argv.insert(c.argv.end(), {"--threads", std::to_string(threads)});
      if (!opt.filter.empty()) c.argv.insert(c.argv.end(), {"--filter", opt.filter});
      if (opt.resume) c.argv.push_back("--resume");
      if (opt.force) c.argv.push_back("--force");
      c.env = child_env(backend, c.device);
    }
    if (!opt.resume && std::filesystem::exists(file))
      return refuse(file.string() + " exists: pass --resume to continue the sweep");
    std::error_code ec;
    if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
    check_writable(file);
  } catch (const InputError& e) {
    return refuse(e.what());
  } catch (const OutputError& e) {
    return refuse(e.what());
  }

  int rc = 0;
  {
    SignalGuard signals;
    for (Child& c : children) {
      c.log = ::open(c.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      std::string header = "=== shard " + std::to_string(c.index) + "/" + std::to_string(count) +
                           " on device " + std::to_string(c.device) + ", started " +
                           std::to_string(std::time(nullptr)) + " (unix time):";
      for (const std::string& a : c.argv) header += " " + a;
      header += "\n";
      if (c.log >= 0) write_all(c.log, header.data(), header.size());
      std::string error;
      if (g_signal == 0 && !spawn(c, signals, error)) {
        out << "costcurve sweep: cannot start shard " << c.index << "/" << count << ": " << error
            << "\n";
        rc = kExitFailed;
        continue;
      }
      out << "shard " << c.index << "/" << count << " on device " << c.device << ": pid " << c.pid
          << ", log " << c.log_path.string() << "\n";
    }
    out.flush();
    pump(children, signals, out);
    for (Child& c : children) {
      if (c.pid > 0)
        while (::waitpid(c.pid, &c.status, 0) < 0 && errno == EINTR) {
        }
      if (c.log >= 0) ::close(c.log);
    }
    if (const int sig = g_signal; sig != 0) {
      out << "costcurve sweep: interrupted by signal " << sig
          << "; the shards were stopped (each keeps its finished points): the same command with "
             "--resume continues them\n";
      out.flush();
      signals.restore_in_child();  // default disposition, unblocked: die of the same signal
      std::raise(sig);
      return 128 + sig;
    }
  }

  std::vector<std::filesystem::path> parts;
  bool bad_input = false;
  for (const Child& c : children) {
    if (c.pid > 0 && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0) {
      parts.push_back(c.part);
      continue;
    }
    if (c.pid > 0) {
      out << "costcurve sweep: shard " << c.index << "/" << count << " on device " << c.device
          << " failed (" << describe_status(c.status) << "); log: " << c.log_path.string() << "\n";
      bad_input |= WIFEXITED(c.status) && WEXITSTATUS(c.status) == kExitUsage;
    }
    rc = kExitFailed;
    std::error_code ec;
    if (std::filesystem::exists(c.part, ec)) parts.push_back(c.part);
  }
  if (parts.empty()) {
    out << "costcurve sweep: no shard wrote a results file; nothing to merge\n";
    return bad_input ? kExitUsage : kExitFailed;
  }
  const int merged = run_merge(parts, file, out);
  if (bad_input) return kExitUsage;
  return rc != 0 ? rc : merged;
}

}  // namespace costcurve
