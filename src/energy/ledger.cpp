// The ledger: each step's energy, split among the units in it by their tokens.
#include <algorithm>

#include "clinbench/energy.h"

namespace clinbench::energy {

EnergyOf energy_of(Sampler& sampler) {
  return [&sampler](Clock::time_point t0, Clock::time_point t1) -> std::optional<double> {
    auto parts = sampler.energy_between(t0, t1);
    const auto missing = [&] {
      return std::any_of(parts.begin(), parts.end(), [](const auto& p) { return !p; });
    };
    if (missing()) {  // most often the readings stop short of t1: take one now
      sampler.sample_now();
      parts = sampler.energy_between(t0, t1);
      if (missing()) return std::nullopt;
    }
    double sum = 0;
    for (const auto& p : parts) sum += *p;
    return sum;
  };
}

Ledger::Ledger(EnergyOf energy_of) : energy_of_(std::move(energy_of)) {}

void Ledger::step(Clock::time_point t, const std::vector<std::pair<uint64_t, int64_t>>& shares) {
  close(t);
  Step s{t, t, {}, 0};
  for (const auto& [unit, tokens] : shares) {
    if (tokens <= 0) continue;
    s.shares.emplace_back(unit, tokens);
    s.tokens += tokens;
    accounts_.try_emplace(unit);
  }
  if (s.tokens > 0) running_ = std::move(s);
}

void Ledger::pause(Clock::time_point t) { close(t); }

void Ledger::close(Clock::time_point t) {
  if (!running_) return;
  running_->end = std::max(t, running_->begin);
  closed_.push_back(std::move(*running_));
  running_.reset();
}

void Ledger::price() {
  for (const Step& s : closed_) {
    const std::optional<double> joules = energy_of_(s.begin, s.end);
    for (const auto& [unit, tokens] : s.shares) {
      Account& a = accounts_[unit];
      if (!joules) {
        a.unmeasured = true;
      } else {
        a.joules += *joules * static_cast<double>(tokens) / static_cast<double>(s.tokens);
      }
    }
  }
  closed_.clear();
}

std::optional<double> Ledger::settle(uint64_t unit, Clock::time_point now) {
  if (running_) {
    const bool in_it = std::any_of(running_->shares.begin(), running_->shares.end(),
                                   [&](const auto& s) { return s.first == unit; });
    if (in_it) {  // cut the step: the rest of it goes on with the others
      std::vector<std::pair<uint64_t, int64_t>> rest;
      for (const auto& s : running_->shares) {
        if (s.first != unit) rest.push_back(s);
      }
      step(now, rest);
    }
  }
  price();
  const auto it = accounts_.find(unit);
  if (it == accounts_.end()) return 0.0;
  const Account a = it->second;
  accounts_.erase(it);
  if (a.unmeasured) return std::nullopt;
  return a.joules;
}

}  // namespace clinbench::energy
