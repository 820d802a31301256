#include "policy/mechanism.h"

#include <cstdlib>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tether::policy {
namespace {

constexpr char kMechanismPayload[] = "tether.dev/mechanism";

constexpr bool TableInEnumeratorOrder() {
  for (size_t i = 0; i < std::size(kMechanisms); ++i) {
    if (static_cast<size_t>(kMechanisms[i].mechanism) != i) return false;
  }
  return true;
}
static_assert(TableInEnumeratorOrder(), "kMechanisms must list every Mechanism in order");
static_assert(std::size(kMechanisms) == static_cast<size_t>(Mechanism::kProcess) + 1);

}  // namespace

const MechanismInfo& InfoOf(Mechanism mechanism) {
  return kMechanisms[static_cast<size_t>(mechanism)];
}

bool ParseRelaxableMechanism(absl::string_view text, Mechanism* mechanism) {
  for (Mechanism candidate : kRelaxableMechanisms) {
    if (text == MechanismName(candidate)) {
      *mechanism = candidate;
      return true;
    }
  }
  return false;
}

const char* MechanismStateName(MechanismState state) {
  switch (state) {
    case MechanismState::kEnforced: return "enforced";
    case MechanismState::kSkipped: return "skipped";
    case MechanismState::kDegraded: return "degraded";
    case MechanismState::kUnavailable: return "unavailable";
    case MechanismState::kNotRequested: return "not_requested";
    case MechanismState::kFailed: return "failed";
    case MechanismState::kNotReached: return "not_reached";
    case MechanismState::kProvidedByContainer: return "provided_by_container";
    case MechanismState::kNotIsolated: return "not_isolated";
  }
  return "unknown";
}

absl::Status MechanismError(Mechanism mechanism, absl::StatusCode code, absl::string_view why) {
  absl::Status status(code, absl::StrCat(MechanismName(mechanism), ": ", why));
  status.SetPayload(kMechanismPayload, absl::Cord(std::to_string(static_cast<int>(mechanism))));
  return status;
}

std::optional<Mechanism> MechanismOf(const absl::Status& status) {
  auto payload = status.GetPayload(kMechanismPayload);
  int value = -1;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &value) || value < 0 ||
      value >= static_cast<int>(std::size(kMechanisms))) {
    return std::nullopt;
  }
  return static_cast<Mechanism>(value);
}

}  // namespace tether::policy
