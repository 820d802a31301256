#ifndef TETHER_BROKER_ENFORCEMENT_H_
#define TETHER_BROKER_ENFORCEMENT_H_

#include <array>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "broker/mechanism.h"
#include "policy/policy_types.h"

namespace tether::broker {

using policy::EnforcementMode;
using policy::EnforcementModeName;
using policy::ParseEnforcementMode;

// Strict unless something said otherwise, and who said it: "default",
// "policy", "env:TETHER_BEST_EFFORT" or "flag:--best-effort".
class Enforcement {
 public:
  // Mechanisms that are not relaxable are always strict.
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
  std::array<Setting, kRelaxableMechanisms.size()> settings_;
};

}  // namespace tether::broker

#endif  // TETHER_BROKER_ENFORCEMENT_H_
