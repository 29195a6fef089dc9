// The background sampler: a thread that reads the meters every interval and keeps the readings,
// and the interpolation that turns them into the energy of an interval.
#include <time.h>  // NOLINT(modernize-deprecated-headers): clock_gettime

#include <algorithm>
#include <cassert>
#include <cmath>

#include "clinbench/energy.h"

namespace clinbench::energy {
namespace {

double thread_cpu_seconds() {
  timespec ts{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

Sampler::Sampler(Meters& meters, SamplerOptions options)
    : meters_(meters), options_(options), width_(meters.size()) {}

Sampler::~Sampler() { stop(); }

void Sampler::start() {
  {
    std::lock_guard lock(data_mu_);
    assert(!running_ && "Sampler::start on a running sampler");
    times_.clear();
    joules_.clear();
    times_.reserve(options_.reserve);
    joules_.reserve(options_.reserve * width_);
    read_wall_s_ = 0;
    thread_cpu_s_ = 0;
    started_ = Clock::now();
    stopped_ = {};
    running_ = true;
  }
  {
    std::lock_guard lock(wake_mu_);
    stop_requested_ = false;
  }
  take_reading();
  thread_ = std::thread([this] { loop(); });
}

void Sampler::stop() {
  {
    std::lock_guard lock(data_mu_);
    if (!running_) return;
  }
  {
    std::lock_guard lock(wake_mu_);
    stop_requested_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  take_reading();
  std::lock_guard lock(data_mu_);
  running_ = false;
  stopped_ = Clock::now();
}

bool Sampler::running() const {
  std::lock_guard lock(data_mu_);
  return running_;
}

void Sampler::loop() {
  const double cpu0 = thread_cpu_seconds();
  auto next = Clock::now() + options_.interval;
  std::unique_lock lock(wake_mu_);
  while (!wake_.wait_until(lock, next, [this] { return stop_requested_; })) {
    lock.unlock();
    take_reading();
    const double cpu = thread_cpu_seconds() - cpu0;
    {
      std::lock_guard data(data_mu_);
      thread_cpu_s_ = cpu;
    }
    // A late reading does not make the next ones come faster: skip ticks that have passed.
    next += options_.interval;
    const auto now = Clock::now();
    if (next < now) next = now + options_.interval;
    lock.lock();
  }
}

void Sampler::sample_now() {
  {
    std::lock_guard lock(data_mu_);
    if (!running_) return;
  }
  take_reading();
}

void Sampler::take_reading() {
  std::lock_guard read_lock(read_mu_);
  const auto t0 = Clock::now();
  EnergyReading r = meters_.read(t0);
  const auto t1 = Clock::now();
  std::lock_guard lock(data_mu_);
  // Readings are taken under read_mu_, so their times ascend.
  times_.push_back(r.time);
  joules_.insert(joules_.end(), r.joules.begin(), r.joules.end());
  read_wall_s_ += seconds(t1 - t0);
}

std::optional<double> Sampler::value_at(size_t meter, Clock::time_point t) const {
  if (times_.empty() || t < times_.front() || t > times_.back()) return std::nullopt;
  // The first reading at or after t, and the one before it.
  const auto it = std::lower_bound(times_.begin(), times_.end(), t);
  const auto hi = static_cast<size_t>(it - times_.begin());
  const double v_hi = joules_[hi * width_ + meter];
  if (*it == t || hi == 0) return std::isnan(v_hi) ? std::nullopt : std::optional(v_hi);
  const size_t lo = hi - 1;
  const double v_lo = joules_[lo * width_ + meter];
  if (std::isnan(v_lo) || std::isnan(v_hi)) return std::nullopt;
  const double f = seconds(t - times_[lo]) / seconds(times_[hi] - times_[lo]);
  return v_lo + (v_hi - v_lo) * f;
}

std::vector<std::optional<double>> Sampler::energy_between(Clock::time_point t0,
                                                           Clock::time_point t1) const {
  std::lock_guard lock(data_mu_);
  std::vector<std::optional<double>> out(width_);
  if (t1 < t0) return out;
  for (size_t m = 0; m < width_; ++m) {
    const auto a = value_at(m, t0);
    const auto b = value_at(m, t1);
    if (a && b) out[m] = *b - *a;
  }
  return out;
}

size_t Sampler::reading_count() const {
  std::lock_guard lock(data_mu_);
  return times_.size();
}

std::vector<EnergyReading> Sampler::readings() const {
  std::lock_guard lock(data_mu_);
  std::vector<EnergyReading> out;
  out.reserve(times_.size());
  for (size_t i = 0; i < times_.size(); ++i) {
    const auto first = joules_.begin() + static_cast<std::ptrdiff_t>(i * width_);
    out.push_back(
        {times_[i], std::vector<double>(first, first + static_cast<std::ptrdiff_t>(width_))});
  }
  return out;
}

SamplerCost Sampler::cost() const {
  std::lock_guard lock(data_mu_);
  SamplerCost c;
  if (started_ == Clock::time_point{}) return c;
  const auto end = running_ ? Clock::now() : stopped_;
  c.wall_s = seconds(end - started_);
  c.thread_cpu_s = thread_cpu_s_;
  c.read_wall_s = read_wall_s_;
  c.readings = times_.size();
  if (c.wall_s > 0) {
    c.cpu_fraction = c.thread_cpu_s / c.wall_s;
    c.read_fraction = c.read_wall_s / c.wall_s;
  }
  return c;
}

}  // namespace clinbench::energy
