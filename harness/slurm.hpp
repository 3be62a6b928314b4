// `costcurve slurm`: a sharded sweep as a Slurm job array (one `sweep --shard I/N` per array task)
// plus a "finish" job that merges the parts (and optionally writes the report) once every task
// succeeded. Everything here that builds text is a pure function, so the scripts can be tested
// without a cluster; the few functions that run programs say so.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace costcurve::slurm {

// What the two scripts are made from. Paths are absolute (the jobs may start anywhere); strings
// that end up on #SBATCH lines (partition, time, workdir, name) must pass validate().
struct JobSpec {
  std::filesystem::path binary;    // the costcurve executable the tasks run
  std::filesystem::path scenario;  // passed to `sweep`, single-quoted: any characters
  std::string name;                // job name, [A-Za-z0-9._-]+ (make_job_name)
  int shards = 1;
  std::string partition;  // empty: the cluster's default partition
  std::string time;       // empty: the partition's default limit
  int gpus_per_task = 0;  // 0: no --gres line (CPU-only partitions may not know gres/gpu)
  std::string backend;    // empty: the scenario's first backend
  int threads = 0;        // sweep --threads; > 0 also asks Slurm for that many CPUs per task
  std::filesystem::path workdir;  // scripts, part-I.json, logs/, status/
  std::filesystem::path out;      // the merged results file
  std::filesystem::path report;   // empty: no report step
  // The cost step (`costcurve cost`) before the report: spec names under `specs` or paths, passed
  // single-quoted. All three empty: no cost step.
  std::string hardware, price, deployment;
  std::filesystem::path specs;  // absolute
};

// Where the finish job's cost step writes: the merged file with ".cost.json" for ".json".
std::filesystem::path cost_path(const JobSpec& job);

// Throws InputError naming the option (--partition, --time, --workdir, ...) when a value cannot be
// written safely: #SBATCH lines are parsed by sbatch, not by a shell, so quoting cannot protect
// them and only a conservative character set is accepted.
void validate(const JobSpec& job);

// The array script (`#SBATCH --array=0-(N-1)`) and the finish script (merge, then cost, then
// report).
std::string array_script(const JobSpec& job);
std::string finish_script(const JobSpec& job);

// Files of a workdir.
std::filesystem::path array_script_path(const JobSpec& job);   // workdir/array.sbatch
std::filesystem::path finish_script_path(const JobSpec& job);  // workdir/finish.sbatch
std::filesystem::path part_path(const JobSpec& job, int task);
std::filesystem::path task_log_path(const JobSpec& job, int task);
std::filesystem::path finish_log_path(const JobSpec& job);
std::filesystem::path task_status_path(const JobSpec& job, int task);
std::filesystem::path finish_status_path(const JobSpec& job);
std::filesystem::path submissions_path(const JobSpec& job);  // one line per submission

// One shell word: `s` single-quoted, with each ' written as '\''. Safe for any byte string.
std::string shell_quote(std::string_view s);
// `s` unchanged when it is made of characters no shell treats specially, else shell_quote(s).
// For commands printed for people to copy.
std::string shell_word(std::string_view s);

// A job name from a scenario name: characters outside [A-Za-z0-9._-] become '_', at most 64.
std::string make_job_name(std::string_view scenario_name);

// "3,5", "0-2,7": array indices, each < shards, sorted, without duplicates. Throws InputError
// naming --resubmit.
std::vector<int> parse_task_list(const std::string& text, int shards);
std::string task_list_text(const std::vector<int>& tasks);  // "1,3-5"

// The job id in `sbatch --parsable` output ("123" or "123;cluster"); nullopt if there is none.
std::optional<std::string> parse_job_id(const std::string& sbatch_stdout);

// Lines of `squeue -h -r -t all -o '%i|%T'`: array tasks ("123_4|RUNNING") by index under the
// array id, ordinary jobs ("124|PENDING") under index -1. A pending range such as "123_[0-2%1]"
// is expanded. Lines of other jobs are kept too; callers look up what they need.
struct QueueEntry {
  std::string job;  // the array (or plain) job id
  int task = -1;    // the array index, -1 for a plain job
  std::string state;
};
std::vector<QueueEntry> parse_squeue(const std::string& text);
// True for the states a job never leaves (COMPLETED, FAILED, CANCELLED, TIMEOUT, ...).
bool is_terminal_state(std::string_view state);

// Reads a status file written by the scripts: the exit code, or nullopt when the file is missing
// or does not hold a number (the task never got to write it: killed, cancelled, node lost).
std::optional<int> read_status(const std::filesystem::path& file);

// Runs a program with argv (no shell, found on PATH), stdin from /dev/null; returns its exit code
// (128 + signal when killed, 127 when it could not be started, 124 when killed at `timeout`) and
// what it printed on stdout and stderr.
struct ProgramResult {
  int code = -1;
  std::string out, err;
};
ProgramResult run_program(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace costcurve::slurm
