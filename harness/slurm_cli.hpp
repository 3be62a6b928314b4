// The `costcurve slurm` subcommand (harness/slurm.hpp builds the scripts; this parses the options,
// writes them, and submits and watches the jobs).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

namespace costcurve {

struct SlurmArgs;

struct SlurmCommand {
  CLI::App* cmd = nullptr;
  std::shared_ptr<SlurmArgs> args;
  // Runs the parsed command; returns the exit code (0 done, 1 a task or the merge failed or the
  // cluster could not be reached, 2 bad arguments). Throws InputError/OutputError like the others.
  int run() const;
};

SlurmCommand add_slurm_command(CLI::App& app);

}  // namespace costcurve
