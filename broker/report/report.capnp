@0x95a439989867ba71;
# Everything tether writes as JSON, as the shapes consumers may rely on: the
# posture report (`run --report`, `serve --report-dir`), the OCSF events
# (`--events`), `tether probe` and `tether policy explain`.
#
# broker/posture_report.h's EncodeReportJson writes a struct of this file as
# one line of compact JSON through capnp::JsonCodec:
# - keys are the $Json.name (snake_case) or the field name, in ordinal order;
# - numbers and booleans are always written; a Text, list or struct member
#   is written only when set (an empty string or list that is set is written
#   as "" or []);
# - a field marked $nullWhenZero writes 0 as null (an errno: no error);
# - a field marked $jsonNumber is an Int64 written as a number.

using Cxx = import "/capnp/c++.capnp";
using Json = import "/capnp/compat/json.capnp";
$Cxx.namespace("tether::broker::schema");

annotation nullWhenZero @0xc8e02eb79e3d8943 (field) :Void;
# On an Int32 field: 0 is written as null, and null reads back as 0.

annotation jsonNumber @0xff350e55b9f5753c (field) :Void;
# On an Int64 field: written as a JSON number instead of the codec's default
# string. Only for values that stay below 2^53 (milliseconds since 1970).

# ---------------------------------------------------------------------------
# The posture report: what happened to every mechanism, and how the broker
# knows.

struct PostureReport {
  outcome @0 :Text;                                # "running" or "refused"
  error @1 :Text;                                  # why it was refused; absent otherwise
  target @2 :Target;                               # who the workload runs as
  landlockAbi @3 :Int32 $Json.name("landlock_abi"); # the ABI the stub reported; 0: none
  enforcement @4 :Enforcement;
  mechanisms @5 :List(MechanismRecord);            # the planned steps in order, then the left out
  network @6 :NetworkPosture;                      # absent without an egress allow-list
  resources @7 :ResourcePosture;                   # local runs, and sidecars as far as seen
  exit @8 :ExitPosture;                            # once the workload ended (local runs)
  launch @9 :List(LaunchPhase);                    # where the launch's time went, in order
  # Where the host probes the decisions rest on came from (see HostFacts.source).
  probes @10 :Text;
}

# One phase of the launch, as sandbox2's set-up latency breakdown. The
# broker's phases follow each other, from `broker_start` (the CPU time of
# exec and loading, before main) to `exec` (Go until the stub's exec of the
# workload closed its socket): they add up to the launch. Those measured by
# the stub break down the broker's `stub_steps`.
struct LaunchPhase {
  phase @0 :Text;
  micros @1 :UInt32;
  measuredBy @2 :Text $Json.name("measured_by");  # "broker" or "stub"
}

struct ResourcePosture {
  # The sandbox's cgroup in each hierarchy: "v1 memory:/a/tether-…", "v2 /tether-…".
  cgroups @0 :List(Text);
  limits @1 :List(ResourceLimit);
  timeout @2 :Text;  # "30s, then SIGTERM and SIGKILL 2s later"; absent: none
}

struct ResourceLimit {
  name @0 :Text;     # "memory", "swap", "pids" or "cpu"
  value @1 :Text;    # as asked: "64M", "32", "0.5"
  asked @2 :Bool;    # false: the default pids limit
  version @3 :Text;  # the cgroup version that enforces it: "v1" or "v2"; absent: none
  setting @4 :Text;  # the files written: "memory.limit_in_bytes=67108864"
  state @5 :Text;    # "enforced" (read back), "degraded", "skipped" or "not_isolated"
  reason @6 :Text;
}

struct ExitPosture {
  status @0 :Int32;  # tether's exit status
  # "exited", "signaled", "memory_limit" (an OOM kill in the sandbox: 137)
  # or "timeout" (124)
  cause @1 :Text;
  detail @2 :Text;
}

struct NetworkPosture {
  egress @0 :List(Text);  # the allow-list in force, canonical spelling
  proxy @1 :Text;         # the egress proxy's URL inside the sandbox; absent: none runs
}

struct Target {
  uid @0 :UInt32;
  gid @1 :UInt32;
  groups @2 :List(UInt32);                         # supplementary groups
}

# One member per relaxable mechanism, named and ordered as in
# policy/mechanism.h (kRelaxableMechanisms).
struct Enforcement {
  networkNamespace @0 :EnforcementSetting $Json.name("network_namespace");
  boundingSet @1 :EnforcementSetting $Json.name("bounding_set");
  supervisorSeccomp @2 :EnforcementSetting $Json.name("supervisor_seccomp");
  workloadSeccomp @3 :EnforcementSetting $Json.name("workload_seccomp");
  landlock @4 :EnforcementSetting;
  privilegeDrop @5 :EnforcementSetting $Json.name("privilege_drop");
  pidNamespace @6 :EnforcementSetting $Json.name("pid_namespace");
  mountNamespace @7 :EnforcementSetting $Json.name("mount_namespace");
  ipcNamespace @8 :EnforcementSetting $Json.name("ipc_namespace");
  utsNamespace @9 :EnforcementSetting $Json.name("uts_namespace");
  cgroupNamespace @10 :EnforcementSetting $Json.name("cgroup_namespace");
  filesystemView @11 :EnforcementSetting $Json.name("filesystem_view");
  resourceLimits @12 :EnforcementSetting $Json.name("resource_limits");
  userNamespace @13 :EnforcementSetting $Json.name("user_namespace");
}

struct EnforcementSetting {
  mode @0 :Text;    # "strict" or "best_effort"
  source @1 :Text;  # "default", "policy", "env:TETHER_BEST_EFFORT" or "flag:--best-effort"
}

struct MechanismRecord {
  mechanism @0 :Text;  # a mechanism name from policy/mechanism.h
  action @1 :Text;     # the stub's step (ipc::ActionName), or "not_planned"
  # enforced, skipped, degraded, unavailable, not_requested, failed or not_reached
  state @2 :Text;
  reason @3 :Text;
  errno @4 :Int32 $nullWhenZero;                  # null: no error
  errnoName @5 :Text $Json.name("errno_name");    # strerror(errno); absent when errno is null
  evidence @6 :Text;   # "verified" (read back from /proc), "stub-attested" or "none"
}

# ---------------------------------------------------------------------------
# OCSF 1.x events, one per line in the event log. Each class is its own
# struct: the fields every class requires (OcsfBase, written inline), the
# class's own, and the mechanism and errno in `unmapped`.

struct OcsfBase {
  classUid @0 :Int32 $Json.name("class_uid");
  className @1 :Text $Json.name("class_name");
  categoryUid @2 :Int32 $Json.name("category_uid");
  categoryName @3 :Text $Json.name("category_name");
  activityId @4 :Int32 $Json.name("activity_id");
  activityName @5 :Text $Json.name("activity_name");
  typeUid @6 :Int32 $Json.name("type_uid");        # class_uid * 100 + activity_id
  severityId @7 :Int32 $Json.name("severity_id");  # 1 Informational, 2 Low, 3 Medium, 4 High
  severity @8 :Text;
  time @9 :Int64 $jsonNumber;                      # milliseconds since 1970
  message @10 :Text;
  metadata @11 :OcsfMetadata;
}

struct OcsfMetadata {
  version @0 :Text;  # the OCSF schema version, "1.1.0"
  product @1 :OcsfProduct;
}

struct OcsfProduct {
  name @0 :Text;                                  # "tether"
  vendorName @1 :Text $Json.name("vendor_name");  # "tether"
  version @2 :Text;
}

struct OcsfUnmapped {
  mechanism @0 :Text;                             # a mechanism name from policy/mechanism.h
  errno @1 :Int32 $nullWhenZero;                  # null: no error
  errnoName @2 :Text $Json.name("errno_name");    # strerror(errno); absent when errno is null
  evidence @3 :Text;                              # Device Config State only, when known
}

# Class 5002 (category 5, Discovery), activity 99 (Other): activity_name is
# the state, e.g. "Validated", "Created", "Degraded" or "Refused".
struct DeviceConfigState {
  base @0 :OcsfBase $Json.flatten();
  unmapped @1 :OcsfUnmapped;
}

# Class 2004 (category 2, Findings), activity 1 (Create): lost confinement.
struct DetectionFinding {
  base @0 :OcsfBase $Json.flatten();
  findingInfo @1 :FindingInfo $Json.name("finding_info");
  unmapped @2 :OcsfUnmapped;
}

struct FindingInfo {
  title @0 :Text;
  uid @1 :Text;   # "tether-<mechanism>-<broker pid>"
  desc @2 :Text;  # what the workload still relies on
}

# Class 1007 (category 1, System Activity), activity 1 (Launch) or 2
# (Terminate).
struct ProcessActivity {
  base @0 :OcsfBase $Json.flatten();
  process @1 :OcsfProcess;
  exit @2 :ProcessExit $Json.flatten();  # Terminate only
  unmapped @3 :OcsfUnmapped;
}

struct OcsfProcess {
  pid @0 :Int32;
  cmdLine @1 :Text $Json.name("cmd_line");  # Launch only: argv joined by spaces
  user @2 :OcsfUser;                        # Launch only
}

struct OcsfUser {
  uid @0 :Text;  # OCSF's user uid is a string
}

struct ProcessExit {
  exitCode @0 :Int32 $Json.name("exit_code");
}

# Class 4001 (category 4, Network Activity): one connection the egress proxy
# was asked for. Activity 1 (Open): allowed and connected; 5 (Refuse): denied
# by the allow-list; 4 (Fail): allowed but not made (no address, refused).
struct NetworkActivity {
  base @0 :OcsfBase $Json.flatten();
  action @1 :Text;                                # "Allowed" or "Denied"
  actionId @2 :Int32 $Json.name("action_id");     # 1 Allowed, 2 Denied
  dstEndpoint @3 :OcsfEndpoint $Json.name("dst_endpoint");
  connectionInfo @4 :OcsfConnectionInfo $Json.name("connection_info");
  unmapped @5 :NetworkUnmapped;
}

struct OcsfEndpoint {
  hostname @0 :Text;  # as the workload asked for it
  ip @1 :Text;        # the address the proxy chose; absent when none
  port @2 :Int32;
}

struct OcsfConnectionInfo {
  protocolName @0 :Text $Json.name("protocol_name");  # "tcp"
  direction @1 :Text;                                 # "Outbound"
  directionId @2 :Int32 $Json.name("direction_id");   # 2 Outbound
}

struct NetworkUnmapped {
  mechanism @0 :Text;                             # "egress_proxy"
  rule @1 :Text;                                  # the network.egress entry that decided; absent: none
  reason @2 :Text;                                # why, in words
  request @3 :Text;                               # "CONNECT" or the HTTP method
}

# ---------------------------------------------------------------------------
# `tether probe`: what this host and the runtime around it allow, each fact
# with its evidence.

struct HostFacts {
  networkNamespace @0 :ProbeFact $Json.name("network_namespace");  # unshare(CLONE_NEWNET)
  userNamespace @1 :ProbeFact $Json.name("user_namespace");        # unshare(CLONE_NEWUSER)
  boundingSetClearable @2 :ProbeFact $Json.name("bounding_set_clearable");
  seccompLoadable @3 :ProbeFact $Json.name("seccomp_loadable");    # the workload filter
  landlock @4 :LandlockFact;
  self @5 :SelfFacts;        # the broker itself, from /proc/self/status
  runtime @6 :RuntimeFact;
  pidNamespace @7 :ProbeFact $Json.name("pid_namespace");        # unshare(CLONE_NEWPID)
  mountNamespace @8 :ProbeFact $Json.name("mount_namespace");    # unshare(CLONE_NEWNS)
  ipcNamespace @9 :ProbeFact $Json.name("ipc_namespace");        # unshare(CLONE_NEWIPC)
  utsNamespace @10 :ProbeFact $Json.name("uts_namespace");       # unshare(CLONE_NEWUTS)
  cgroupNamespace @11 :ProbeFact $Json.name("cgroup_namespace"); # unshare(CLONE_NEWCGROUP)
  freshProcfs @12 :ProbeFact $Json.name("fresh_procfs");         # procfs in a new pid+mount namespace
  # Where these facts come from: "probed, kept in <file>", "launch cache
  # <file>" (denials are always probed again) or "probed (why no cache)".
  source @13 :Text;
}

struct ProbeFact {
  allowed @0 :Bool;
  errno @1 :Int32 $nullWhenZero;  # null when allowed
  evidence @2 :Text;
}

struct LandlockFact {
  abi @0 :Int32;                  # 0: no Landlock
  errno @1 :Int32 $nullWhenZero;  # null when there is an ABI
  evidence @2 :Text;
}

struct SelfFacts {
  uid @0 :List(UInt32);  # real, effective, saved
  gid @1 :List(UInt32);  # real, effective, saved
  groups @2 :List(UInt32);
  capEffective @3 :Text $Json.name("cap_effective");      # 16 hex digits, as in /proc
  capPermitted @4 :Text $Json.name("cap_permitted");
  capInheritable @5 :Text $Json.name("cap_inheritable");
  capBounding @6 :Text $Json.name("cap_bounding");
  capAmbient @7 :Text $Json.name("cap_ambient");
  noNewPrivs @8 :Bool $Json.name("no_new_privs");
  seccompMode @9 :Int32 $Json.name("seccomp_mode");
  evidence @10 :Text;
}

struct RuntimeFact {
  guess @0 :Text;  # "gvisor", "container", "vm" or "bare-host"
  evidence @1 :List(Text);
}

# ---------------------------------------------------------------------------
# `tether policy explain`: the effective policy, where each path came from,
# and what the running Landlock ABI enforces.

struct PolicyExplanation {
  effective @0 :EffectivePolicy;
  origins @1 :List(Origin);
  landlock @2 :LandlockCoverage;
  # `tether run`'s filesystem view, mount by mount in the order they are
  # made, on a host that allows every namespace and a fresh /proc.
  view @3 :List(ViewMountExplanation);
}

struct ViewMountExplanation {
  target @0 :Text;   # the path in the view
  action @1 :Text;   # "bind_read_only", "mount_tmpfs", "symlink", ...
  source @2 :Text;   # binds: the host path; links: their text; else empty
  options @3 :Text;  # "ro,nosuid,nodev", "-> usr/bin", ...
  reason @4 :Text;
}

# The policy in effect, itself a valid policy file (policy/policy.capnp).
struct EffectivePolicy {
  filesystem @0 :EffectiveFilesystem;
  process @1 :EffectiveProcess;
  seccomp @2 :EffectiveSeccomp;
  network @3 :EffectiveNetwork;
  enforcement @4 :EnforcementModes;
  gpu @5 :EffectiveGpu;  # only when the policy file has a gpu section
  resources @6 :EffectiveResources;
}

# Each member only when set; pids always (the default applies).
struct EffectiveResources {
  memory @0 :Text;
  memorySwap @1 :Text $Json.name("memory_swap");
  pids @2 :UInt32;
  cpus @3 :Text;
  timeout @4 :Text;
}

struct EffectiveFilesystem {
  readOnly @0 :List(Text) $Json.name("read_only");
  readWrite @1 :List(Text) $Json.name("read_write");
  devices @2 :List(Text);
  tmpfsSize @3 :Text $Json.name("tmpfs_size");  # bytes
}

struct EffectiveProcess {
  user @0 :Text;  # only when one is set
  environment @1 :List(Text);
  hostname @2 :Text;
}

struct EffectiveSeccomp {
  denySyscalls @0 :List(Text) $Json.name("deny_syscalls");
}

struct EffectiveNetwork {
  mode @0 :Text;
  egress @1 :List(Text);                                    # canonical spelling
  maxConnections @2 :UInt32 $Json.name("max_connections");
  maxBytes @3 :Text $Json.name("max_bytes");                # bytes, as a size the policy accepts
}

# Per relaxable mechanism, as in Enforcement above: "strict" or "best_effort".
struct EnforcementModes {
  networkNamespace @0 :Text $Json.name("network_namespace");
  boundingSet @1 :Text $Json.name("bounding_set");
  supervisorSeccomp @2 :Text $Json.name("supervisor_seccomp");
  workloadSeccomp @3 :Text $Json.name("workload_seccomp");
  landlock @4 :Text;
  privilegeDrop @5 :Text $Json.name("privilege_drop");
  pidNamespace @6 :Text $Json.name("pid_namespace");
  mountNamespace @7 :Text $Json.name("mount_namespace");
  ipcNamespace @8 :Text $Json.name("ipc_namespace");
  utsNamespace @9 :Text $Json.name("uts_namespace");
  cgroupNamespace @10 :Text $Json.name("cgroup_namespace");
  filesystemView @11 :Text $Json.name("filesystem_view");
  resourceLimits @12 :Text $Json.name("resource_limits");
  userNamespace @13 :Text $Json.name("user_namespace");
}

# Each member only when the policy file sets it.
struct EffectiveGpu {
  devices @0 :Text;
  deviceRoot @1 :Text $Json.name("device_root");
  procConflict @2 :Text $Json.name("proc_conflict");
}

struct Origin {
  path @0 :Text;    # "$.filesystem.read_only[3]", or "write_file"
  value @1 :Text;
  origin @2 :Text;  # "user", "baseline", "gpu-baseline" or "promoted"
  reason @3 :Text;  # promoted entries only
}

struct LandlockCoverage {
  abi @0 :Int32;
  enforcedFsRights @1 :List(Text) $Json.name("enforced_fs_rights");
  notEnforcedFsRights @2 :List(Text) $Json.name("not_enforced_fs_rights");
  enforcedScopes @3 :List(Text) $Json.name("enforced_scopes");
  notEnforcedScopes @4 :List(Text) $Json.name("not_enforced_scopes");
}
