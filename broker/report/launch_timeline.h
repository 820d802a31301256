#ifndef TETHER_BROKER_REPORT_LAUNCH_TIMELINE_H_
#define TETHER_BROKER_REPORT_LAUNCH_TIMELINE_H_

#include <time.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tether::broker {

// One phase of a launch and what it took (report.capnp's LaunchPhase).
struct LaunchPhase {
  std::string phase;
  uint32_t micros = 0;
  // "broker": the broker's monotonic clock; "stub": the stub's own account
  // of a step it ran (stub-attested, within the broker's "stub_steps").
  std::string measured_by = "broker";
};

// Where a launch's time goes, phase by phase, as sandbox2's set-up latency
// breakdown: each phase ends where the next begins, so that the broker's
// phases add up to the launch (the stub's are a breakdown of one of them).
class LaunchTimeline {
 public:
  // Starts now (a sidecar stub's launch: when it connected).
  LaunchTimeline();
  // Starts at main(), with the CPU time spent before it as "broker_start"
  // (see NoteMainEntered); now, when main did not note it.
  static LaunchTimeline SinceMainEntered();

  // Call first thing in main: the CPU time the process spent before it
  // (exec, loading, static constructors), and when main began.
  static void NoteMainEntered();

  // The phase that ends now, since the previous one ended.
  void Mark(const std::string& phase);
  // A phase the stub measured on itself.
  void AddStubPhase(const std::string& phase, uint32_t micros);
  // The broker's phases from start to the last Mark.
  uint32_t TotalMicros() const;

  const std::vector<LaunchPhase>& phases() const { return phases_; }

 private:
  struct timespec last_;
  std::vector<LaunchPhase> phases_;
};

}  // namespace tether::broker

#endif  // TETHER_BROKER_REPORT_LAUNCH_TIMELINE_H_
