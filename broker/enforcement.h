#ifndef TETHER_BROKER_ENFORCEMENT_H_
#define TETHER_BROKER_ENFORCEMENT_H_

#include <array>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tether::broker {

// The mechanisms whose enforcement a policy can relax.
enum class Mechanism {
  kNetworkNamespace,
  kBoundingSet,
  kSupervisorSeccomp,
  kWorkloadSeccomp,
  kLandlock,
  kPrivilegeDrop,
};
inline constexpr std::array<Mechanism, 6> kAllMechanisms = {
    Mechanism::kNetworkNamespace, Mechanism::kBoundingSet,  Mechanism::kSupervisorSeccomp,
    Mechanism::kWorkloadSeccomp,  Mechanism::kLandlock,     Mechanism::kPrivilegeDrop};

const char* MechanismName(Mechanism mechanism);

enum class EnforcementMode { kStrict, kBestEffort };
const char* EnforcementModeName(EnforcementMode mode);

// Strict unless something said otherwise, and who said it: "default",
// "policy", "env:TETHER_BEST_EFFORT" or "flag:--best-effort".
class Enforcement {
 public:
  EnforcementMode mode(Mechanism mechanism) const;
  bool best_effort(Mechanism mechanism) const {
    return mode(mechanism) == EnforcementMode::kBestEffort;
  }
  const std::string& source(Mechanism mechanism) const;
  void Set(Mechanism mechanism, EnforcementMode mode, std::string source);

  // Makes the listed mechanisms best effort. `list` is "all" or a comma
  // list of mechanism names; an unknown or empty name is an error naming it.
  absl::Status WidenFromList(absl::string_view list, absl::string_view source);

 private:
  struct Setting {
    EnforcementMode mode = EnforcementMode::kStrict;
    std::string source = "default";
  };
  std::array<Setting, kAllMechanisms.size()> settings_;
};

// Parses "strict" or "best_effort".
bool ParseEnforcementMode(absl::string_view text, EnforcementMode* mode);
bool ParseMechanism(absl::string_view text, Mechanism* mechanism);

}  // namespace tether::broker

#endif  // TETHER_BROKER_ENFORCEMENT_H_
