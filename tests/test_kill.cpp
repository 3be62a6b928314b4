// A sweep killed with SIGKILL at random moments always leaves a valid results file holding every
// finished point, and --resume then completes it with no point lost or repeated.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <set>
#include <thread>

#include "harness/results.hpp"

namespace costcurve {
namespace {

namespace fs = std::filesystem;

pid_t start_sweep(const fs::path& out) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const std::string o = out.string();
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::execl(COSTCURVE_BINARY, "costcurve", "sweep", COSTCURVE_SOURCE_DIR "/scenarios/smoke.json",
            "--out", o.c_str(), "--resume", "--threads", "1", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

TEST(Kill, RandomSigkillsLoseNothingAndResumeCompletes) {
  const fs::path dir = fs::temp_directory_path() / ("costcurve-kill-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path out = dir / "smoke.json";
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> delay_ms(100, 2500);
  std::size_t last = 0;
  for (int trial = 0; trial < 20; ++trial) {
    const pid_t pid = start_sweep(out);
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!fs::exists(out)) continue;  // killed before the first write
    ResultsFile f;
    ASSERT_NO_THROW(f = load_results(out)) << "trial " << trial << ": the file is not valid";
    std::set<std::string> names;
    for (const PointResult& p : f.points) EXPECT_TRUE(names.insert(p.name).second) << p.name;
    EXPECT_GE(f.points.size(), last) << "trial " << trial << " lost finished points";
    last = f.points.size();
  }
  // Let it finish.
  const pid_t pid = start_sweep(out);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const ResultsFile f = load_results(out);
  std::set<std::string> names;
  for (const PointResult& p : f.points) {
    EXPECT_TRUE(names.insert(p.name).second) << "repeated: " << p.name;
    EXPECT_EQ(p.status, PointStatus::ok) << p.name;
  }
  EXPECT_EQ(names.size(), 24u);
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename(), "smoke.json") << "temporary file left: " << e.path();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace costcurve
