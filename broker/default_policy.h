#ifndef TETHER_BROKER_DEFAULT_POLICY_H_
#define TETHER_BROKER_DEFAULT_POLICY_H_

#include <string>
#include <vector>

namespace tether::broker {

// What a workload may touch when the user says nothing more: enough for
// ordinary dynamically linked programs, nothing of the host's private state.
struct SandboxPolicy {
  std::vector<std::string> read_only;
  std::vector<std::string> read_write;
  std::vector<std::string> devices;
  std::vector<std::string> write_file;  // the write-file right only (GPU /proc promotion)
  // Environment variable names passed through; a name ending in '*' is a prefix.
  std::vector<std::string> environment_allow;
  std::vector<std::string> extra_denied_syscalls;
  std::vector<int> allowed_socket_families;
  std::string hostname = "tether";  // in the sandbox's uts namespace
  // Each private tmpfs of the filesystem view (/tmp, /dev/shm).
  uint64_t tmpfs_size_bytes = uint64_t{256} << 20;
};

SandboxPolicy DefaultPolicy();

// Builds the workload's environment from the broker's: only allowed names
// pass; PATH gets a safe default when the broker has none.
std::vector<std::string> FilterEnvironment(char** environment,
                                           const std::vector<std::string>& allow);
std::vector<std::string> FilterEnvironment(const std::vector<std::string>& environment,
                                           const std::vector<std::string>& allow);

}  // namespace tether::broker

#endif  // TETHER_BROKER_DEFAULT_POLICY_H_
