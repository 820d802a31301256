#ifndef TETHER_BROKER_MECHANISM_H_
#define TETHER_BROKER_MECHANISM_H_

// The mechanism vocabulary lives in policy/mechanism.h (the policy file
// names mechanisms too); the broker uses it under its own namespace.

#include "policy/mechanism.h"

namespace tether::broker {

using policy::InfoOf;
using policy::kMechanisms;
using policy::kRelaxableMechanisms;
using policy::Mechanism;
using policy::MechanismError;
using policy::MechanismInfo;
using policy::MechanismName;
using policy::MechanismOf;
using policy::MechanismState;
using policy::MechanismStateName;
using policy::ParseRelaxableMechanism;
using policy::VerifiableFromProc;

}  // namespace tether::broker

#endif  // TETHER_BROKER_MECHANISM_H_
