@0x969ab15c5386eba3;
# The user's policy file, written as JSON and read through this schema.
# Every key is snake_case in JSON ($Json.name); unknown keys are errors.

using Cxx = import "/capnp/c++.capnp";
using Json = import "/capnp/compat/json.capnp";
$Cxx.namespace("tether::policy::schema");

struct Policy {
  filesystem @0 :Filesystem;
  process @1 :Process;
  seccomp @2 :Seccomp;
  enforcement @3 :Enforcement;
  network @4 :Network;
  gpu @5 :Gpu;
  resources @6 :Resources;
}

# What the sandbox may consume, enforced through its cgroup (and the
# broker's clock for the timeout). Unset: no limit, except pids.
struct Resources {
  memory @0 :Text;                               # "512m", "2g": at least 4m
  # Swap on top of memory ("0", "1g"). Default with a memory limit: 0.
  memorySwap @1 :Text $Json.name("memory_swap");
  pids @2 :UInt32;                               # 0: the default, 4096
  cpus @3 :Text;                                 # "0.5", "2"
  timeout @4 :Text;                              # "30s", "2m", "1h30m"
}

struct Gpu {
  devices @0 :Text;                                   # "all", "none" or "0,2"
  deviceRoot @1 :Text $Json.name("device_root");      # default "/dev"
  procConflict @2 :Text $Json.name("proc_conflict");  # "promote" (default), "keep_user", "reject"
}

struct Network {
  mode @0 :Text;       # "isolated" (default: loopback only), "host" or "auto"
  # Destinations the egress proxy lets the workload reach: "host:port",
  # "*.domain:port", IPv4/IPv6 addresses and CIDRs ("10.0.0.0/8:5432",
  # "[2001:db8::1]:443"). Not with "host".
  egress @1 :List(Text);
  # Connections open at once through the proxy, per sandbox (0: the
  # default, 64; at most 4096).
  maxConnections @2 :UInt32 $Json.name("max_connections");
  # Bytes through the proxy, both ways, per sandbox: bytes, or a number with
  # k, m or g. Default 8g.
  maxBytes @3 :Text $Json.name("max_bytes");
}

# Per mechanism: "strict" (the default: fail closed) or "best_effort".
struct Enforcement {
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
  # A non-root broker's sandbox is made inside a user namespace.
  userNamespace @13 :Text $Json.name("user_namespace");
}

struct Filesystem {
  readOnly @0 :List(Text) $Json.name("read_only");
  readWrite @1 :List(Text) $Json.name("read_write");
  devices @2 :List(Text);
  # "hard_requirement" (default): the kernel must enforce every right the
  # policy relies on, and every listed path must exist. "best_effort": use
  # what the running ABI has and report the rest.
  landlockCompatibility @3 :Text $Json.name("landlock_compatibility");
  # The size of each private tmpfs (/tmp, /dev/shm) of the filesystem view:
  # bytes, or a number with k, m or g. Default 256m.
  tmpfsSize @4 :Text $Json.name("tmpfs_size");
}

struct Process {
  user @0 :Text;                               # NAME or UID[:GID]
  environment @1 :List(Text);                  # variable names allowed through
  group @2 :Text;                              # GID or group name; overrides the user's
  supplementaryGroups @3 :List(Text) $Json.name("supplementary_groups");
  workingDirectory @4 :Text $Json.name("working_directory");
  rlimits @5 :List(Rlimit);
  hostname @6 :Text;                           # in the sandbox's uts namespace; default "tether"
}

struct Rlimit {
  name @0 :Text;     # nofile, nproc, as, cpu, fsize, stack, memlock, data
  soft @1 :Text;     # a number or "unlimited"
  hard @2 :Text;
}

struct Seccomp {
  denySyscalls @0 :List(Text) $Json.name("deny_syscalls");
  # Families the default filter denies that this workload needs anyway:
  # AF_PACKET, AF_VSOCK, AF_BLUETOOTH, AF_NETLINK (every netlink protocol).
  allowSocketFamilies @1 :List(Text) $Json.name("allow_socket_families");
}
