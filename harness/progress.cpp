#include "harness/progress.hpp"

#include <unistd.h>

#include <cmath>
#include <numeric>

namespace costcurve {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  else
    std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s) / 3600,
                  static_cast<int>(s) % 3600 / 60);
  return buf;
}

bool Progress::is_tty(std::FILE* f) {
  return ::isatty(::fileno(f)) == 1;
}

Progress::Progress(std::vector<double> weights, std::FILE* out, bool tty)
    : weights_(std::move(weights)), out_(out), tty_(tty) {
  weight_total_ = std::accumulate(weights_.begin(), weights_.end(), 0.0);
  started_ = std::chrono::steady_clock::now();
}

std::string Progress::eta() const {
  if (weight_done_ <= 0) return "?";
  const double left = weight_total_ - weight_done_;
  return format_duration(seconds_done_ / weight_done_ * left);
}

void Progress::start(std::size_t index, const std::string& name) {
  current_ = index;
  name_ = name;
  point_started_ = std::chrono::steady_clock::now();
  if (tty_) draw();
}

void Progress::finish(std::size_t index, const std::string& line) {
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - point_started_).count();
  ++done_;
  weight_done_ += weights_[index];
  seconds_done_ += took;
  if (tty_) std::fprintf(out_, "\r\033[K");
  std::fprintf(out_, "[%zu/%zu] %s: %s (%s, ETA %s)\n", done_, weights_.size(), name_.c_str(),
               line.c_str(), format_duration(took).c_str(), eta().c_str());
  std::fflush(out_);
}

void Progress::draw() {
  constexpr int kWidth = 24;
  const double frac = weight_total_ > 0 ? weight_done_ / weight_total_ : 0;
  const int fill = static_cast<int>(frac * kWidth);
  std::string bar(fill, '=');
  if (fill < kWidth) bar += '>';
  bar.resize(kWidth, ' ');
  std::fprintf(out_, "\r\033[K[%s] %zu/%zu ETA %s  %s", bar.c_str(), done_, weights_.size(),
               eta().c_str(), name_.c_str());
  std::fflush(out_);
}

void Progress::close() {
  const double total =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  std::fprintf(out_, "%zu points in %s\n", done_, format_duration(total).c_str());
  std::fflush(out_);
}

}  // namespace costcurve
