// Progress of a long sweep: a bar with points done, the current point and an ETA on a terminal;
// one plain line per point otherwise (logs, CI).
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace costcurve {

class Progress {
public:
  // weights: predicted cost of each point (any unit); the ETA assumes time is proportional to it.
  Progress(std::vector<double> weights, std::FILE* out, bool tty);
  void start(std::size_t index, const std::string& name);
  void finish(std::size_t index, const std::string& line);  // line: what happened to the point
  void close();
  static bool is_tty(std::FILE* f);

private:
  std::string eta() const;
  void draw();
  std::vector<double> weights_;
  std::FILE* out_;
  bool tty_;
  std::size_t done_ = 0, current_ = 0;
  double weight_done_ = 0, weight_total_ = 0, seconds_done_ = 0;
  std::string name_;
  std::chrono::steady_clock::time_point started_, point_started_;
};

std::string format_duration(double seconds);

}  // namespace costcurve
