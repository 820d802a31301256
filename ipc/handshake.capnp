@0xff490f90ebd0d547;
# The broker <-> stub handshake. One Cap'n Proto message per SOCK_SEQPACKET
# datagram; file descriptors ride along as SCM_RIGHTS and are referred to by
# their index in that datagram's fd list.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("tether::ipc::wire");

# Bumped on any incompatible change; the broker refuses other versions.
const protocolVersion :UInt32 = 1;

struct IdTriple {
  real @0 :UInt32;
  effective @1 :UInt32;
  saved @2 :UInt32;
}

struct CapabilitySets {
  effective @0 :UInt64;
  permitted @1 :UInt64;
  inheritable @2 :UInt64;
  bounding @3 :UInt64;
  ambient @4 :UInt64;
}

# stub -> broker, first message: what the stub sees about itself. A claim the
# broker checks against /proc, never proof.
struct Hello {
  protocolVersion @0 :UInt32;
  pid @1 :Int32;
  uids @2 :IdTriple;
  gids @3 :IdTriple;
  groups @4 :List(UInt32);
  caps @5 :CapabilitySets;
  noNewPrivs @6 :Bool;
  seccompMode @7 :UInt8;       # 0 disabled, 1 strict, 2 filter
  landlockAbi @8 :Int32;       # 0 when Landlock is unavailable
  landlockErrno @9 :Int32;     # errno of the ABI query when unavailable
  auditArch @10 :UInt32;       # AUDIT_ARCH_* of the stub
  # Sidecar mode only: the command the container asked the stub to run, the
  # stub's environment (the broker filters it) and its working directory.
  requestedExec @11 :ExecRequest;
  cwd @12 :Text;
  token @13 :Text;             # sidecar: the per-sandbox secret, when the broker asks for one
  # The inode of each of the stub's namespaces (/proc/self/ns/*), in the
  # order pid, mnt, ipc, uts, cgroup, net; 0 where it cannot tell. A claim:
  # what the broker reports for a sidecar it cannot see.
  namespaceInodes @14 :List(UInt64);
}

enum Disposition {
  enforce @0;                  # do it; any error fails the step
  skipAlreadySatisfied @1;     # do not touch the kernel, report skipped
  bestEffort @2;               # do it; an errno in tolerateErrnos is tolerated
}

struct Rlimit {
  resource @0 :UInt32;
  soft @1 :UInt64;
  hard @2 :UInt64;
}

struct Step {
  disposition @0 :Disposition;
  tolerateErrnos @1 :List(Int32);
  action :union {
    setGroups @2 :List(UInt32);
    setResgid @3 :UInt32;
    setResuid @4 :UInt32;
    clearBoundingSet @5 :Void;
    clearInheritableAndAmbient @6 :Void;
    setNoNewPrivs @7 :Void;
    setRlimit @8 :Rlimit;
    landlockRestrictSelf @9 :UInt8;    # fd index of a Landlock ruleset
    seccompFilter @10 :UInt8;          # fd index of a sealed memfd of sock_filter
    parentDeathSignal @11 :ParentDeathSignal;
    changeDirectory @12 :Text;         # absolute path; after the identity change
    joinNetworkNamespace @13 :UInt8;   # fd index of a network namespace (setns)
  }
}

struct ParentDeathSignal {
  signal @0 :Int32;
  expectedParent @1 :Int32;    # the stub exits if its parent is no longer this
}

struct ExecRequest {
  argv @0 :List(Text);         # argv[0] is the program, searched in PATH of envp
  envp @1 :List(Text);
  # The stub is pid 1 of a new pid namespace: it forks the workload and
  # stays as its init (forwards signals, reaps orphans, exits with the
  # workload's status), so that the workload never is a pid 1.
  asInit @2 :Bool;
  # With asInit: the broker's tether run is the terminal's foreground job,
  # so the workload may take the terminal (never from a background job).
  takeTerminal @3 :Bool;
}

# broker -> stub: the whole bootstrap, decided by the broker.
struct Plan {
  protocolVersion @0 :UInt32;
  steps @1 :List(Step);
  exec @2 :ExecRequest;
}

enum Outcome {
  ok @0;
  skipped @1;
  tolerated @2;
  failed @3;
}

struct StepResult {
  index @0 :UInt32;
  outcome @1 :Outcome;
  errno @2 :Int32;
  # How long the step took, by the stub's monotonic clock: the posture
  # report's launch breakdown (stub-attested, never a decision's input).
  elapsedMicros @3 :UInt32;
}

struct StubMessage {
  union {
    hello @0 :Hello;
    stepResult @1 :StepResult;
    ready @2 :Void;              # all steps done, waiting for go
    execFailed @3 :Int32;        # errno of execve; the workload is not running
  }
}

struct BrokerMessage {
  union {
    plan @0 :Plan;
    go @1 :Void;                 # posture verified: exec now
    abort @2 :Text;              # the broker refuses; exit without exec
  }
}
