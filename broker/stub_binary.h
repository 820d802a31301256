#ifndef TETHER_BROKER_STUB_BINARY_H_
#define TETHER_BROKER_STUB_BINARY_H_

// The broker runs the stub (and the egress proxy's program) as root before
// any confinement exists, so the file it executes must be the one it
// checked: it is opened once, checked through the fd, and that fd is what
// the child executes (execveat).

#include <string>

#include "absl/status/statusor.h"
#include "ipc/unique_fd.h"

namespace tether::broker {

// tether-stub beside the broker's own binary (from /proc/self/exe), or in
// its Bazel runfiles (`bazel run //:tether`): always an absolute path, never
// a name looked up in the current directory.
absl::StatusOr<std::string> StubBesideBroker();

// Opens the stub at `path` (made absolute against the current directory) and
// checks it: a regular file; for a root broker also owned by root and not
// writable by group or others, since whoever can rewrite it runs as root.
// Errors name the path and say how to point at another stub (--stub).
absl::StatusOr<UniqueFd> OpenTrustedStub(const std::string& path);

// tether-egress, the egress proxy's program, beside the broker (or in its
// runfiles), opened and checked as the stub is: a root broker starts it as
// root, and it confines itself before it serves (broker/egress_main.cc).
absl::StatusOr<UniqueFd> OpenEgressHelper();

}  // namespace tether::broker

#endif  // TETHER_BROKER_STUB_BINARY_H_
