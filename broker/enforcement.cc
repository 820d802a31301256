#include "broker/enforcement.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tether::broker {

EnforcementMode Enforcement::mode(Mechanism mechanism) const {
  if (!InfoOf(mechanism).relaxable) return EnforcementMode::kStrict;
  return settings_[static_cast<size_t>(mechanism)].mode;
}

const std::string& Enforcement::source(Mechanism mechanism) const {
  static const std::string kDefault = "default";
  if (!InfoOf(mechanism).relaxable) return kDefault;
  return settings_[static_cast<size_t>(mechanism)].source;
}

void Enforcement::Set(Mechanism mechanism, EnforcementMode mode, std::string source) {
  if (!InfoOf(mechanism).relaxable) return;
  settings_[static_cast<size_t>(mechanism)] = {mode, std::move(source)};
}

absl::Status Enforcement::WidenFromList(absl::string_view list, absl::string_view source) {
  list = absl::StripAsciiWhitespace(list);
  if (list == "all") {
    for (Mechanism mechanism : kRelaxableMechanisms) {
      Set(mechanism, EnforcementMode::kBestEffort, std::string(source));
    }
    return absl::OkStatus();
  }
  Enforcement widened = *this;  // nothing half-applied on error
  for (absl::string_view name : absl::StrSplit(list, ',')) {
    name = absl::StripAsciiWhitespace(name);
    Mechanism mechanism;
    if (!ParseRelaxableMechanism(name, &mechanism)) {
      std::vector<std::string> names;
      for (Mechanism relaxable : kRelaxableMechanisms) names.push_back(MechanismName(relaxable));
      return absl::InvalidArgumentError(absl::StrCat(source, ": '", name, "' is not a mechanism (",
                                                     absl::StrJoin(names, ", "), ", or all)"));
    }
    widened.Set(mechanism, EnforcementMode::kBestEffort, std::string(source));
  }
  *this = widened;
  return absl::OkStatus();
}

}  // namespace tether::broker
