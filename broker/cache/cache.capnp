@0xefb1b1478b00de1b;
# What the broker keeps across runs in its launch cache (launch_cache.h):
# results that cost a launch time and change only with the host or the
# broker, never anything a decision could be weakened by.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("tether::broker::cache");

# One file of the cache.
struct Entry {
  # Everything the payload depends on, written out in full and compared in
  # full on every read: a file whose key differs is a miss (and replaced).
  key @0 :Text;
  payload @1 :Data;
}

# The host probes (broker/host/host_probe.h's HostFacts, less what is read
# fresh on every run: the broker's own status and the Landlock ABI).
struct HostFacts {
  probes @0 :List(Probe);
  userNamespaceRemedy @1 :Text;
  probedInUserNamespace @2 :Bool;
  runtimeName @3 :Text;
  runtimeEvidence @4 :List(Text);
}

struct Probe {
  name @0 :Text;
  ok @1 :Bool;
  errno @2 :Int32;
  evidence @3 :Text;
}

# The user database's home directories (cache/home_directories.h), with
# what decides whether they may be used again: the stamps of the files they
# were read from and when, in CLOCK_MONOTONIC nanoseconds of this boot.
struct HomeDirectories {
  homes @0 :List(Text);
  stamps @1 :List(SourceStamp);
  lookedUpNs @2 :Int64;
}

struct SourceStamp {
  device @0 :UInt64;
  inode @1 :UInt64;
  size @2 :Int64;
  modifiedNs @3 :Int64;
  changedNs @4 :Int64;
}
