#include "harness/slurm.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "harness/json_input.hpp"

extern char** environ;

namespace costcurve::slurm {
namespace {

namespace fs = std::filesystem;

bool all_of_set(std::string_view s, std::string_view allowed_punct) {
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           allowed_punct.find(c) != std::string_view::npos;
  });
}

// Printable for an error message whatever the value holds (it came from the command line).
std::string shown(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Characters allowed in a path that goes on an #SBATCH line. No '%': sbatch expands %a, %j, ...
// in --output; no spaces or quotes: sbatch splits #SBATCH lines itself.
constexpr std::string_view kSbatchPathPunct = "._/+,:@=-";

void check_absolute(const fs::path& p, const char* option) {
  if (p.empty() || !p.is_absolute())
    throw InputError(std::string(option) + ": expected an absolute path, got " + shown(p.string()));
}

std::string sbatch_line(std::string_view option, std::string_view value) {
  return "#SBATCH --" + std::string(option) + "=" + std::string(value) + "\n";
}

// Quoted `prefix` + "$i" + quoted `suffix`: a per-task path in a script.
std::string task_path_expr(const fs::path& dir, std::string_view stem, std::string_view ext) {
  return shell_quote((dir / stem).string()) + "\"$i\"" + shell_quote(ext);
}

// `echo CODE > FILE`, through a temporary file and rename, so that a reader never sees it empty.
std::string write_status_lines(const std::string& file_expr) {
  return "echo \"$rc\" > " + file_expr + ".tmp && mv -f " + file_expr + ".tmp " + file_expr + "\n";
}

}  // namespace

std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

std::string shell_word(std::string_view s) {
  if (!s.empty() && all_of_set(s, "._/+,:@=-%") && s.front() != '-') return std::string(s);
  return shell_quote(s);
}

std::string make_job_name(std::string_view scenario_name) {
  std::string out;
  for (char c : scenario_name.substr(0, 64)) out += all_of_set({&c, 1}, "._-") ? c : '_';
  return out.empty() ? "sweep" : out;
}

std::filesystem::path cost_path(const JobSpec& job) {
  std::filesystem::path p = job.out;
  p.replace_extension(".cost.json");
  return p;
}

void validate(const JobSpec& job) {
  check_absolute(job.binary, "costcurve executable");
  check_absolute(job.scenario, "scenario");
  check_absolute(job.workdir, "--workdir");
  check_absolute(job.out, "--out");
  if (!job.report.empty()) check_absolute(job.report, "--report");
  const int specs_given = !job.hardware.empty() + !job.price.empty() + !job.deployment.empty();
  if (specs_given != 0 && specs_given != 3)
    throw InputError(
        "--hardware, --price and --deployment: give all three (the cost step needs "
        "them) or none");
  if (specs_given == 3) check_absolute(job.specs, "--specs");
  const std::string wd = job.workdir.string();
  if (!all_of_set(wd, kSbatchPathPunct) || wd.size() > 1024)
    throw InputError("--workdir: " + shown(wd) +
                     ": Slurm reads it from #SBATCH lines, which cannot be quoted; use a directory "
                     "whose absolute path has only letters, digits and . _ / + , : @ = -");
  if (job.name.empty() || !all_of_set(job.name, "._-") || job.name.size() > 128)
    throw InputError("job name: " + shown(job.name) + ": expected [A-Za-z0-9._-]+");
  if (!job.partition.empty()) {
    // Partition names, or a comma-separated list of them (the job runs in the first that fits).
    static const std::regex partition_re("[A-Za-z0-9._-]+(,[A-Za-z0-9._-]+)*");
    if (job.partition.size() > 256 || !std::regex_match(job.partition, partition_re))
      throw InputError("--partition: " + shown(job.partition) +
                       ": expected a partition name or a comma-separated list of them "
                       "(letters, digits, . _ -)");
  }
  if (!job.time.empty()) {
    // The formats of sbatch --time: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S, or no limit.
    static const std::regex time_re(
        "[0-9]{1,7}(:[0-9]{1,2}){0,2}|[0-9]{1,5}-[0-9]{1,2}(:[0-9]{1,2}){0,2}|UNLIMITED|INFINITE|"
        "unlimited|infinite");
    if (job.time.size() > 32 || !std::regex_match(job.time, time_re))
      throw InputError("--time: " + shown(job.time) +
                       ": expected a Slurm time limit: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, "
                       "D-HH:MM:SS or UNLIMITED");
  }
  if (!job.backend.empty() && !all_of_set(job.backend, "_-"))
    throw InputError("--backend: " + shown(job.backend) + ": not a backend name");
  if (job.shards < 1 || job.shards > 100000)
    throw InputError("--shards: expected 1 to 100000, got " + std::to_string(job.shards));
  if (job.gpus_per_task < 0 || job.gpus_per_task > 1024)
    throw InputError("--gpus-per-task: expected 0 to 1024, got " +
                     std::to_string(job.gpus_per_task));
  if (job.threads < 0 || job.threads > 1 << 16)
    throw InputError("--threads: expected 0 to 65536, got " + std::to_string(job.threads));
}

fs::path array_script_path(const JobSpec& job) {
  return job.workdir / "array.sbatch";
}
fs::path finish_script_path(const JobSpec& job) {
  return job.workdir / "finish.sbatch";
}
fs::path part_path(const JobSpec& job, int task) {
  return job.workdir / ("part-" + std::to_string(task) + ".json");
}
fs::path task_log_path(const JobSpec& job, int task) {
  return job.workdir / "logs" / ("task-" + std::to_string(task) + ".out");
}
fs::path finish_log_path(const JobSpec& job) {
  return job.workdir / "logs" / "finish.out";
}
fs::path task_status_path(const JobSpec& job, int task) {
  return job.workdir / "status" / ("task-" + std::to_string(task) + ".rc");
}
fs::path finish_status_path(const JobSpec& job) {
  return job.workdir / "status" / "finish.rc";
}
fs::path submissions_path(const JobSpec& job) {
  return job.workdir / "submissions.log";
}

std::string array_script(const JobSpec& job) {
  validate(job);
  const std::string n = std::to_string(job.shards);
  std::string s = "#!/bin/bash\n";
  s += sbatch_line("job-name", "costcurve-" + job.name);
  s += sbatch_line("array", "0-" + std::to_string(job.shards - 1));
  // Appended, so that a resubmitted task's log keeps the failed attempt above the new one.
  s += sbatch_line("output", (job.workdir / "logs" / "task-%a.out").string());
  s += sbatch_line("open-mode", "append");
  s += sbatch_line("chdir", job.workdir.string());
  if (!job.partition.empty()) s += sbatch_line("partition", job.partition);
  if (!job.time.empty()) s += sbatch_line("time", job.time);
  if (job.gpus_per_task > 0) s += sbatch_line("gres", "gpu:" + std::to_string(job.gpus_per_task));
  if (job.threads > 0) s += sbatch_line("cpus-per-task", std::to_string(job.threads));
  s += "#\n"
       "# Written by `costcurve slurm`: one shard of `costcurve sweep` per array task. The task's\n"
       "# exit code also goes to status/task-I.rc: without slurmdbd nothing else keeps it once\n"
       "# slurmctld forgets the job, and a task killed before it could write it left no code.\n"
       "# `--resume` keeps the points a killed or resubmitted task had already measured.\n"
       "set -u\n"
       "i=${SLURM_ARRAY_TASK_ID:-}\n"
       "case $i in '' | *[!0-9]*) echo \"not run as a task of a Slurm array\" >&2; exit 2 ;; esac\n"
       "if [ \"$i\" -ge " +
       n + " ]; then echo \"array index $i is not a shard of " + n + "\" >&2; exit 2; fi\n";
  const std::string rc_file = task_path_expr(job.workdir / "status", "task-", ".rc");
  s += "rc_file=" + rc_file + "\n";
  s += "mkdir -p " + shell_quote((job.workdir / "status").string()) + " && rm -f \"$rc_file\"\n";
  s += "echo \"== costcurve shard $i/" + n +
       ": job ${SLURM_JOB_ID:-?} on $(hostname) at $(date -u +%Y-%m-%dT%H:%M:%SZ)\"\n";
  s += shell_quote(job.binary.string()) + " sweep " + shell_quote(job.scenario.string()) +
       " --shard \"$i/" + n + "\" --out " + task_path_expr(job.workdir, "part-", ".json") +
       " --resume";
  if (!job.backend.empty()) s += " --backend " + shell_quote(job.backend);
  if (job.threads > 0) s += " --threads " + std::to_string(job.threads);
  s += "\nrc=$?\n";
  s += write_status_lines("\"$rc_file\"");
  s += "echo \"== shard $i/" + n + " exit $rc\"\n";
  s += "exit \"$rc\"\n";
  return s;
}

std::string finish_script(const JobSpec& job) {
  validate(job);
  std::string s = "#!/bin/bash\n";
  s += sbatch_line("job-name", "costcurve-" + job.name + "-finish");
  s += sbatch_line("output", finish_log_path(job).string());
  s += sbatch_line("open-mode", "append");
  s += sbatch_line("chdir", job.workdir.string());
  if (!job.partition.empty()) s += sbatch_line("partition", job.partition);
  if (!job.time.empty()) s += sbatch_line("time", job.time);
  s +=
      "#\n"
      "# Written by `costcurve slurm`: runs after every array task succeeded\n"
      "# (--dependency=afterok), or by hand: bash finish.sbatch. The parts are listed one by one,\n"
      "# not globbed, so that a missing part fails the merge instead of shrinking it.\n"
      "set -u\n";
  s += "rc_file=" + shell_quote(finish_status_path(job).string()) + "\n";
  s += "mkdir -p " + shell_quote((job.workdir / "status").string()) + " && rm -f \"$rc_file\"\n";
  s += "echo \"== costcurve merge: job ${SLURM_JOB_ID:-none} on $(hostname) at $(date -u "
       "+%Y-%m-%dT%H:%M:%SZ)\"\n";
  s += shell_quote(job.binary.string()) + " merge";
  for (int i = 0; i < job.shards; ++i) s += " " + shell_quote(part_path(job, i).string());
  s += " --out " + shell_quote(job.out.string()) + "\nrc=$?\n";
  const bool cost = !job.hardware.empty();
  if (cost) {
    s += "if [ \"$rc\" -eq 0 ]; then\n  " + shell_quote(job.binary.string()) + " cost " +
         shell_quote(job.out.string()) + " --hardware " + shell_quote(job.hardware) + " --price " +
         shell_quote(job.price) + " --deployment " + shell_quote(job.deployment) + " --specs " +
         shell_quote(job.specs.string()) + " --out " + shell_quote(cost_path(job).string()) +
         "\n  rc=$?\nfi\n";
  }
  if (!job.report.empty()) {
    s += "if [ \"$rc\" -eq 0 ]; then\n  " + shell_quote(job.binary.string()) + " report " +
         shell_quote(job.out.string()) +
         (cost ? " --cost " + shell_quote(cost_path(job).string()) : std::string()) + " --out " +
         shell_quote(job.report.string()) + "\n  rc=$?\nfi\n";
  }
  s += write_status_lines("\"$rc_file\"");
  s += "echo \"== finish exit $rc\"\n";
  s += "exit \"$rc\"\n";
  return s;
}

std::vector<int> parse_task_list(const std::string& text, int shards) {
  const auto fail = [&](const std::string& why) -> void {
    throw InputError("--resubmit: " + shown(text) + ": " + why);
  };
  const auto number = [&](std::string_view s) {
    int v = -1;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < 0)
      fail("expected array indices such as 3,5 or 0-2");
    if (v >= shards)
      fail("task " + std::to_string(v) + " is not one of the " + std::to_string(shards) +
           " shards (0 to " + std::to_string(shards - 1) + ")");
    return v;
  };
  std::set<int> tasks;
  std::string_view rest = text;
  if (rest.empty()) fail("expected array indices such as 3,5 or 0-2");
  while (true) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const std::size_t dash = item.find('-');
    if (dash == std::string_view::npos) {
      tasks.insert(number(item));
    } else {
      const int a = number(item.substr(0, dash)), b = number(item.substr(dash + 1));
      if (b < a) fail("a range must go upwards");
      for (int i = a; i <= b; ++i) tasks.insert(i);
    }
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return {tasks.begin(), tasks.end()};
}

std::string task_list_text(const std::vector<int>& tasks) {
  std::string out;
  for (std::size_t i = 0; i < tasks.size();) {
    std::size_t j = i;
    while (j + 1 < tasks.size() && tasks[j + 1] == tasks[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(tasks[i]);
    if (j > i) out += (j == i + 1 ? "," : "-") + std::to_string(tasks[j]);
    i = j + 1;
  }
  return out;
}

std::optional<std::string> parse_job_id(const std::string& sbatch_stdout) {
  std::istringstream in(sbatch_stdout);
  std::string line;
  while (std::getline(in, line)) {
    const std::string id = line.substr(0, line.find(';'));
    if (!id.empty() && all_of_set(id, "") && id.size() < 20) return id;
  }
  return std::nullopt;
}

std::vector<QueueEntry> parse_squeue(const std::string& text) {
  std::vector<QueueEntry> out;
  std::istringstream in(text);
  std::string line;
  static const std::regex line_re(
      R"(\s*([0-9]+)(?:_(?:([0-9]+)|\[([0-9,\-]+)(?:%[0-9]+)?\]))?\|([A-Z_]+)\s*)");
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, line_re)) continue;
    const std::string job = m[1], state = m[4];
    if (m[2].matched) {
      out.push_back({job, std::stoi(m[2]), state});
    } else if (m[3].matched) {
      std::vector<int> tasks;
      try {
        tasks = parse_task_list(m[3], 1 << 20);
      } catch (const InputError&) {
        continue;
      }
      for (int t : tasks) out.push_back({job, t, state});
    } else {
      out.push_back({job, -1, state});
    }
  }
  return out;
}

bool is_terminal_state(std::string_view state) {
  static const std::set<std::string_view> terminal = {
      "BOOT_FAIL",     "CANCELLED", "COMPLETED", "DEADLINE", "FAILED",      "NODE_FAIL",
      "OUT_OF_MEMORY", "PREEMPTED", "REVOKED",   "TIMEOUT",  "SPECIAL_EXIT"};
  return terminal.count(state) > 0;
}

std::optional<int> read_status(const fs::path& file) {
  std::ifstream in(file);
  int code = 0;
  if (!in || !(in >> code)) return std::nullopt;
  return code;
}

ProgramResult run_program(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  ProgramResult r;
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    r.code = 127;
    r.err = std::string("pipe: ") + std::strerror(errno);
    return r;
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    r.code = 127;
    r.err = std::string("pipe: ") + std::strerror(errno);
    return r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (std::string& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = -1;
  const int spawn_err = ::posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (spawn_err != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    r.code = 127;
    r.err = argv[0] + ": " + std::strerror(spawn_err);
    return r;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  char buf[8192];
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) {
      timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    const int ready = ::poll(fds, 2, static_cast<int>(std::min<long long>(left, 1000)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    for (int k = 0; k < 2; ++k) {
      if (fds[k].fd < 0 || !(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::read(fds[k].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fds[k].fd);
        fds[k].fd = -1;
        --open_fds;
      } else if (sinks[k]->size() < (std::size_t{4} << 20)) {
        sinks[k]->append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  for (pollfd& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out)
    r.code = 124;
  else if (WIFEXITED(status))
    r.code = WEXITSTATUS(status);
  else
    r.code = 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return r;
}

}  // namespace costcurve::slurm
