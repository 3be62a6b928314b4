#include "harness/slurm_cli.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "harness/json_input.hpp"
#include "harness/results.hpp"
#include "harness/scenario.hpp"
#include "harness/slurm.hpp"
#include "harness/sweep.hpp"

namespace costcurve {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct SlurmArgs {
  std::string scenario;
  int shards = 0;
  std::string partition, time, backend, out, workdir, report, resubmit;
  std::string hardware, price, deployment, specs = "scenarios";
  int gpus_per_task = -1;  // -1: 1 for --backend cuda, else 0
  int threads = 0;
  bool submit = false, wait = false;
};

namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

std::string utc_stamp(const char* format) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

fs::path absolute_path(const std::string& p) {
  return fs::absolute(fs::path(p)).lexically_normal();
}

slurm::JobSpec make_job(const SlurmArgs& a) {
  const Scenario sc = load_scenario(a.scenario);  // bad scenarios fail here, before any job runs
  const std::string backend = a.backend.empty() ? sc.backends.front() : a.backend;
  slurm::JobSpec job;
  job.binary = fs::read_symlink("/proc/self/exe");
  job.scenario = absolute_path(a.scenario);
  job.name = slurm::make_job_name(sc.name);
  job.shards = a.shards;
  job.partition = a.partition;
  job.time = a.time;
  job.gpus_per_task = a.gpus_per_task >= 0 ? a.gpus_per_task : (backend == "cuda" ? 1 : 0);
  job.backend = a.backend;
  job.threads = a.threads;
  job.workdir = absolute_path(!a.workdir.empty()
                                  ? a.workdir
                                  : "results/slurm/" + job.name + "-" + utc_stamp("%Y%m%d-%H%M%S"));
  job.out = absolute_path(a.out.empty() ? default_results_path(sc.name, backend).string() : a.out);
  if (!a.report.empty()) job.report = absolute_path(a.report);
  job.hardware = a.hardware;
  job.price = a.price;
  job.deployment = a.deployment;
  if (!a.hardware.empty()) job.specs = absolute_path(a.specs);
  slurm::validate(job);
  return job;
}

// The command that reproduces this run's scripts exactly, for --resubmit.
std::string resubmit_command(const slurm::JobSpec& job, const SlurmArgs& a,
                             const std::vector<int>& tasks) {
  using slurm::shell_word;
  std::string c = shell_word(job.binary.string()) + " slurm " + shell_word(job.scenario.string()) +
                  " --shards " + std::to_string(job.shards) + " --workdir " +
                  shell_word(job.workdir.string()) + " --out " + shell_word(job.out.string());
  if (!job.backend.empty()) c += " --backend " + shell_word(job.backend);
  if (job.threads > 0) c += " --threads " + std::to_string(job.threads);
  if (!job.partition.empty()) c += " --partition " + shell_word(job.partition);
  if (!job.time.empty()) c += " --time " + shell_word(job.time);
  if (a.gpus_per_task >= 0 || job.gpus_per_task > 0)
    c += " --gpus-per-task " + std::to_string(job.gpus_per_task);
  if (!job.report.empty()) c += " --report " + shell_word(job.report.string());
  if (!job.hardware.empty())
    c += " --hardware " + shell_word(job.hardware) + " --price " + shell_word(job.price) +
         " --deployment " + shell_word(job.deployment) + " --specs " +
         shell_word(job.specs.string());
  return c + " --resubmit " + slurm::task_list_text(tasks) + " --wait";
}

void write_script(const fs::path& file, const std::string& text) {
  write_atomic(file, text);
  std::error_code ec;  // executable for `bash FILE` users' convenience only: sbatch needs no +x
  fs::permissions(file, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                  fs::perm_options::add, ec);
}

// Writes both scripts. An existing workdir is accepted only with the very same scripts: tasks
// resume their part files, which a different split or scenario would make meaningless.
void write_scripts(const slurm::JobSpec& job, bool resubmit) {
  const std::string array = slurm::array_script(job), finish = slurm::finish_script(job);
  const fs::path array_file = slurm::array_script_path(job);
  std::error_code ec;
  if (fs::exists(array_file, ec)) {
    std::string old;
    try {
      old = read_text_file(array_file);
    } catch (const InputError& e) {
      throw InputError(std::string("--workdir: ") + e.what());
    }
    if (old != array)
      throw InputError("--workdir: " + job.workdir.string() +
                       " holds an array.sbatch written for other options (scenario, shards, "
                       "backend, partition, ...): use the same options as that run, or a new "
                       "--workdir");
  } else if (resubmit) {
    throw InputError("--resubmit: " + job.workdir.string() +
                     " holds no array.sbatch: give the --workdir of the run whose tasks failed");
  }
  for (const char* sub : {"logs", "status"}) {
    fs::create_directories(job.workdir / sub, ec);
    if (ec)
      throw OutputError("--workdir: cannot create " + (job.workdir / sub).string() + ": " +
                        ec.message());
  }
  fs::create_directories(job.out.parent_path(), ec);
  if (ec)
    throw OutputError("--out: cannot create " + job.out.parent_path().string() + ": " +
                      ec.message());
  write_script(array_file, array);
  write_script(slurm::finish_script_path(job), finish);
}

struct Submitted {
  std::string array, finish;
};

std::optional<std::string> sbatch(const std::vector<std::string>& args, const std::string& what) {
  std::vector<std::string> argv = {"sbatch", "--parsable"};
  argv.insert(argv.end(), args.begin(), args.end());
  const slurm::ProgramResult r = slurm::run_program(argv, 120s);
  const auto id = r.code == 0 ? slurm::parse_job_id(r.out) : std::nullopt;
  if (!id) {
    std::cerr << "costcurve slurm: sbatch of the " << what << " failed (exit " << r.code
              << "): " << r.err << r.out;
    if (r.code == 127) std::cerr << " (is Slurm's sbatch on PATH?)";
    std::cerr << "\n";
  }
  return id;
}

// The last finish job this workdir submitted, from submissions.log ("... finish ID").
std::optional<std::string> last_finish_job(const slurm::JobSpec& job) {
  std::ifstream in(slurm::submissions_path(job));
  std::string line, last;
  while (std::getline(in, line)) {
    const std::size_t at = line.rfind(" finish ");
    if (at != std::string::npos) last = line.substr(at + 8);
  }
  if (last.empty()) return std::nullopt;
  return slurm::parse_job_id(last);
}

std::map<std::string, std::string> job_states(const std::string& ids) {
  std::map<std::string, std::string> out;
  const slurm::ProgramResult r =
      slurm::run_program({"squeue", "-h", "-t", "all", "-j", ids, "-o", "%i|%T"}, 30s);
  for (const slurm::QueueEntry& e : slurm::parse_squeue(r.out))
    if (e.task < 0) out[e.job] = e.state;
  return out;
}

std::optional<Submitted> submit(const slurm::JobSpec& job, const std::vector<int>& tasks) {
  if (!tasks.empty()) {
    // The previous finish job waits on an array with a failed task: afterok can never be
    // satisfied, so it would stay pending for ever beside the new one.
    if (const auto old = last_finish_job(job)) {
      const auto states = job_states(*old);
      const auto it = states.find(*old);
      if (it != states.end() && it->second == "PENDING") {
        slurm::run_program({"scancel", *old}, 30s);
        std::cout << "cancelled the earlier finish job " << *old
                  << " (it waited on failed tasks)\n";
      }
    }
  }
  std::error_code ec;
  for (int i = 0; i < job.shards; ++i)
    if (tasks.empty() || std::binary_search(tasks.begin(), tasks.end(), i))
      fs::remove(slurm::task_status_path(job, i), ec);
  fs::remove(slurm::finish_status_path(job), ec);

  std::vector<std::string> array_args;
  if (!tasks.empty()) array_args.push_back("--array=" + slurm::task_list_text(tasks));
  array_args.push_back(slurm::array_script_path(job).string());
  const auto array = sbatch(array_args, "array");
  if (!array) return std::nullopt;
  const auto finish = sbatch({"--dependency=afterok:" + *array,  //
                              slurm::finish_script_path(job).string()},
                             "finish job");
  if (!finish) {
    std::cerr << "costcurve slurm: the array job " << *array
              << " runs; merge its parts by hand when it is done: bash "
              << slurm::shell_word(slurm::finish_script_path(job).string()) << "\n";
    return std::nullopt;
  }
  std::ofstream(slurm::submissions_path(job), std::ios::app)
      << utc_stamp("%Y-%m-%dT%H:%M:%SZ") << " array " << *array << " tasks "
      << (tasks.empty() ? "0-" + std::to_string(job.shards - 1) : slurm::task_list_text(tasks))
      << " finish " << *finish << "\n";
  std::cout << "submitted array job " << *array << " (tasks "
            << (tasks.empty() ? "0-" + std::to_string(job.shards - 1)
                              : slurm::task_list_text(tasks))
            << ") and finish job " << *finish << " (merges once every task succeeded)\n";
  return Submitted{*array, *finish};
}

struct Snapshot {
  bool ok = false;                    // squeue answered
  bool forgotten = false;             // slurmctld no longer knows the jobs (MinJobAge)
  std::map<int, std::string> tasks;   // array index -> state
  std::optional<std::string> finish;  // the finish job's state
};

Snapshot poll_queue(const Submitted& s) {
  Snapshot snap;
  const slurm::ProgramResult r = slurm::run_program(
      {"squeue", "-h", "-r", "-t", "all", "-j", s.array + "," + s.finish, "-o", "%i|%T"}, 30s);
  // Jobs slurmctld has forgotten (MinJobAge after the end): squeue says so; they are done.
  snap.forgotten = r.code != 0 && r.err.find("Invalid job id") != std::string::npos;
  snap.ok = r.code == 0 || snap.forgotten;
  for (const slurm::QueueEntry& e : slurm::parse_squeue(r.out)) {
    if (e.job == s.array && e.task >= 0) snap.tasks[e.task] = e.state;
    if (e.job == s.finish && e.task < 0) snap.finish = e.state;
  }
  return snap;
}

// Waits for the array, then for the finish job (or cancels it when a task failed), and reports.
int wait_and_report(const slurm::JobSpec& job, const SlurmArgs& a, const Submitted& s,
                    const std::vector<int>& submitted_tasks) {
  const auto start = std::chrono::steady_clock::now();
  auto last_answer = start;
  std::string last_line;
  Snapshot snap;
  const auto elapsed = [&] {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                            start)
        .count();
  };
  const auto task_ok = [&](int i) {
    const auto rc = slurm::read_status(slurm::task_status_path(job, i));
    return rc && *rc == 0;
  };
  bool array_done = false;
  for (;;) {
    snap = poll_queue(s);
    const auto now = std::chrono::steady_clock::now();
    if (!snap.ok) {
      if (now - last_answer > 120s) {
        std::cerr << "costcurve slurm: squeue has not answered for 2 minutes; the jobs may still "
                     "run (array "
                  << s.array << ", finish " << s.finish << ")\n";
        return kExitFailed;
      }
      std::this_thread::sleep_for(1s);
      continue;
    }
    last_answer = now;
    int pending = 0, running = 0, done = 0, failed = 0;
    for (const auto& [task, state] : snap.tasks) {
      if (slurm::is_terminal_state(state)) {
        ++done;
        if (state != "COMPLETED") ++failed;
      } else if (state == "PENDING" || state == "REQUEUED" || state == "SUSPENDED") {
        ++pending;
      } else {
        ++running;
      }
    }
    // Every submitted task must have been listed: an empty answer is not an empty queue.
    const std::size_t expected =
        submitted_tasks.empty() ? static_cast<std::size_t>(job.shards) : submitted_tasks.size();
    array_done = pending == 0 && running == 0 && (snap.tasks.size() >= expected || snap.forgotten);
    const std::string finish_state = snap.finish.value_or("gone");
    const std::string line = "array " + s.array + ": " + std::to_string(pending) + " pending, " +
                             std::to_string(running) + " running, " + std::to_string(done) +
                             " done (" + std::to_string(failed) + " failed); finish " + s.finish +
                             ": " + finish_state;
    if (line != last_line) {
      std::cout << "[" << elapsed() << "s] " << line << std::endl;
      last_line = line;
    }
    if (array_done) {
      bool any_failed = false;
      for (int i = 0; i < job.shards && !any_failed; ++i) any_failed = !task_ok(i);
      if (any_failed || !snap.finish || slurm::is_terminal_state(*snap.finish)) break;
    }
    std::this_thread::sleep_for(500ms);
  }

  // A task Slurm calls COMPLETED wrote its status just before it exited; on a shared file
  // system the file may show up a moment later.
  for (int tries = 0; tries < 20; ++tries) {
    bool missing = false;
    for (const auto& [task, state] : snap.tasks)
      if (state == "COMPLETED" && !slurm::read_status(slurm::task_status_path(job, task)))
        missing = true;
    if (!missing) break;
    std::this_thread::sleep_for(250ms);
  }

  std::vector<int> failed;
  std::cout << "\ntasks (shard I of " << job.shards << ", logs in "
            << (job.workdir / "logs").string() << "):\n";
  for (int i = 0; i < job.shards; ++i) {
    const auto rc = slurm::read_status(slurm::task_status_path(job, i));
    if (rc && *rc == 0) {
      std::cout << "  task " << i << ": ok\n";
      continue;
    }
    failed.push_back(i);
    const auto st = snap.tasks.find(i);
    std::string why = rc ? "exit " + std::to_string(*rc)
                         : "no exit code recorded: killed, cancelled or never started";
    if (st != snap.tasks.end())
      why += "; Slurm state " + st->second;
    else if (!std::binary_search(submitted_tasks.begin(), submitted_tasks.end(), i) &&
             !submitted_tasks.empty())
      why += "; not part of this submission";
    std::cout << "  task " << i << ": FAILED (" << why
              << "), log: " << slurm::task_log_path(job, i).string() << "\n";
  }

  if (!failed.empty()) {
    if (snap.finish && !slurm::is_terminal_state(*snap.finish)) {
      slurm::run_program({"scancel", s.finish}, 30s);
      std::cout << "\nfinish job " << s.finish << " cancelled: it only runs after every task "
                << "succeeded\n";
    }
    std::cout << "\n"
              << failed.size() << " of " << job.shards
              << " tasks FAILED. To run just those again (points they finished are kept) "
                 "and merge:\n  "
              << resubmit_command(job, a, failed) << "\n";
    return kExitFailed;
  }

  const auto finish_rc = slurm::read_status(slurm::finish_status_path(job));
  if (!finish_rc || *finish_rc != 0) {
    std::cout << "\nfinish job " << s.finish << " FAILED ("
              << (finish_rc ? "exit " + std::to_string(*finish_rc)
                            : "no exit code recorded, Slurm state " + snap.finish.value_or("?"))
              << "), log: " << slurm::finish_log_path(job).string() << "\n";
    return kExitFailed;
  }
  std::cout << "\nall " << job.shards << " tasks ok; merged into " << job.out.string() << "\n";
  if (!job.report.empty()) std::cout << "report: " << (job.report / "index.html").string() << "\n";
  return 0;
}

}  // namespace

int SlurmCommand::run() const {
  const SlurmArgs& a = *args;
  const slurm::JobSpec job = make_job(a);
  const std::vector<int> tasks =
      a.resubmit.empty() ? std::vector<int>{} : slurm::parse_task_list(a.resubmit, job.shards);
  if (!a.resubmit.empty() && a.workdir.empty())
    throw InputError("--resubmit: give the --workdir of the run whose tasks failed");
  write_scripts(job, !tasks.empty());
  const std::string array = slurm::array_script_path(job).string();
  const std::string finish = slurm::finish_script_path(job).string();
  std::cout << "wrote " << array << " (" << job.shards << " array tasks) and " << finish << "\n";

  if (!a.submit && !a.wait && tasks.empty()) {
    using slurm::shell_word;
    std::cout << "submit them with:\n  jid=$(sbatch --parsable " << shell_word(array)
              << ") && sbatch --dependency=afterok:${jid%%;*} " << shell_word(finish)
              << "\nor let costcurve submit and watch them: add --submit --wait\n"
              << "merged results go to " << job.out.string() << "\n";
    return 0;
  }
  const auto submitted = submit(job, tasks);
  if (!submitted) return kExitFailed;
  if (!a.wait) {
    std::cout << "follow them with: squeue -j " << submitted->array << "," << submitted->finish
              << "\nlogs: " << (job.workdir / "logs").string()
              << "/; merged results: " << job.out.string() << "\n";
    return 0;
  }
  return wait_and_report(job, a, *submitted, tasks);
}

SlurmCommand add_slurm_command(CLI::App& app) {
  SlurmCommand c;
  c.args = std::make_shared<SlurmArgs>();
  SlurmArgs& a = *c.args;
  CLI::App* cmd = app.add_subcommand(
      "slurm",
      "Run a sweep on a Slurm cluster: writes an sbatch job array with one `sweep --shard I/N` "
      "per task (each resumable), and a finish job that merges the parts (`costcurve merge`) and, "
      "with --report, writes the report. With --submit it submits both (the finish job after "
      "every task succeeded); with --wait it follows them, lists each task as ok or FAILED with "
      "its log, and on a failure exits 1 printing the command that reruns only the failed tasks "
      "(--resubmit) in the same --workdir.");
  c.cmd = cmd;
  cmd->add_option("scenario", a.scenario, "Scenario file, e.g. scenarios/deepseek-v3.2.json")
      ->required();
  cmd->add_option("--shards,-n", a.shards, "Array tasks, one shard of the points each")
      ->required()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--partition,-p", a.partition, "Slurm partition (default: the cluster's)");
  cmd->add_option("--gpus-per-task", a.gpus_per_task,
                  "GPUs per task (--gres=gpu:G); default 1 with --backend cuda, else 0 (no "
                  "--gres line, for CPU-only partitions)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--time", a.time, "Time limit per task, e.g. 2:00:00 (default: the partition's)");
  cmd->add_option("--backend,-b", a.backend, "Backend (default: the scenario's first)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--threads,-t", a.threads,
                  "CPU threads per task (sweep --threads); > 0 also asks for that many CPUs "
                  "(--cpus-per-task)")
      ->check(CLI::Range(0, 65536));
  cmd->add_option("--out,-o", a.out,
                  "Merged results file (default: results/<scenario>.<backend>.json)");
  cmd->add_option(
      "--workdir", a.workdir,
      "Directory for the scripts, parts, logs/ and status/ (default: "
      "results/slurm/<scenario>-<UTC time>/); must be on a file system the nodes share");
  cmd->add_option("--report", a.report,
                  "After merging, also write `costcurve report` into this directory");
  cmd->add_option("--hardware", a.hardware,
                  "With --price and --deployment: after merging, price the curves (`costcurve "
                  "cost`, into <out>.cost.json) and give them to the report, e.g. h100-sxm");
  cmd->add_option("--price", a.price, "Pricing spec for the cost step, e.g. h100");
  cmd->add_option("--deployment", a.deployment, "Deployment for the cost step, e.g. deepseek-h800");
  cmd->add_option("--specs", a.specs, "Directory of specs for the cost step")
      ->capture_default_str();
  cmd->add_flag("--submit", a.submit, "Submit the array and the finish job (sbatch)");
  cmd->add_flag("--wait", a.wait,
                "Submit, then follow the jobs until they end; report each task (implies --submit)");
  cmd->add_option("--resubmit", a.resubmit,
                  "Submit only these array tasks again (e.g. 3,5) in --workdir, then merge "
                  "(implies --submit)");
  return c;
}

}  // namespace costcurve
