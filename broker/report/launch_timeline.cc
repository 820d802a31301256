#include "broker/report/launch_timeline.h"

#include <algorithm>
#include <climits>

namespace tether::broker {
namespace {

struct MainEntry {
  bool noted = false;
  struct timespec at;        // CLOCK_MONOTONIC
  struct timespec cpu_time;  // CLOCK_PROCESS_CPUTIME_ID
};

MainEntry& Entry() {
  static MainEntry entry;
  return entry;
}

uint32_t Micros(const struct timespec& from, const struct timespec& to) {
  int64_t nanos = (to.tv_sec - from.tv_sec) * 1000000000LL + (to.tv_nsec - from.tv_nsec);
  return static_cast<uint32_t>(std::clamp<int64_t>(nanos / 1000, 0, UINT32_MAX));
}

}  // namespace

void LaunchTimeline::NoteMainEntered() {
  MainEntry& entry = Entry();
  clock_gettime(CLOCK_MONOTONIC, &entry.at);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &entry.cpu_time);
  entry.noted = true;
}

LaunchTimeline::LaunchTimeline() { clock_gettime(CLOCK_MONOTONIC, &last_); }

LaunchTimeline LaunchTimeline::SinceMainEntered() {
  LaunchTimeline timeline;
  const MainEntry& entry = Entry();
  if (entry.noted) {
    timeline.last_ = entry.at;
    timeline.phases_.push_back({"broker_start", Micros({0, 0}, entry.cpu_time)});
  }
  return timeline;
}

void LaunchTimeline::Mark(const std::string& phase) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  phases_.push_back({phase, Micros(last_, now)});
  last_ = now;
}

void LaunchTimeline::AddStubPhase(const std::string& phase, uint32_t micros) {
  phases_.push_back({phase, micros, "stub"});
}

uint32_t LaunchTimeline::TotalMicros() const {
  uint64_t total = 0;
  for (const LaunchPhase& phase : phases_) {
    if (phase.measured_by == "broker") total += phase.micros;
  }
  return static_cast<uint32_t>(std::min<uint64_t>(total, UINT32_MAX));
}

}  // namespace tether::broker
