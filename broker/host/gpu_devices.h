#ifndef TETHER_BROKER_GPU_DEVICES_H_
#define TETHER_BROKER_GPU_DEVICES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "policy/policy_types.h"

namespace tether::broker {

// Which GPUs a workload asked for, and their NVIDIA_VISIBLE_DEVICES syntax
// (policy/policy_types.h).
using policy::GpuSelection;
using policy::kMaxGpuIndex;
using policy::ParseGpuSelection;

// One device node the workload may open read-write (and ioctl).
struct GpuDeviceNode {
  std::string path;
  unsigned major = 0;
  unsigned minor = 0;
  // "control" (nvidiactl), "gpu" (nvidiaN), "uvm", "uvm-tools", "modeset",
  // "caps" (nvidia-caps/*) or "dxg" (WSL2).
  std::string role;
};

struct GpuGrant {
  // Exactly what the workload may open, in a stable order: control, gpus by
  // index, uvm, uvm-tools, modeset, caps by name, dxg.
  std::vector<GpuDeviceNode> nodes;
  // The selected /dev/nvidiaN, ascending.
  std::vector<int> gpu_indexes;
  // Directories the workload may read: the nvidia-persistenced socket
  // directory (with the native driver) and the WSL2 driver store (with dxg).
  std::vector<std::string> read_only_paths;
};

struct GpuDiscoveryOptions {
  std::string device_root = "/dev";
  // For the majors of "nvidia-uvm" and "nvidia-caps", which the kernel
  // assigns dynamically (nvidiactl, nvidiaN and nvidia-modeset share the
  // fixed major 195).
  std::string proc_devices = "/proc/devices";
  // Holds nvidia-persistenced/ (its socket).
  std::string run_root = "/run";
  // WSL2's user-mode driver libraries (libcuda and friends live here, not in
  // /usr/lib).
  std::string wsl_lib_dir = "/usr/lib/wsl";
};

// Discovers the NVIDIA device nodes under options.device_root, validates
// every one it recognises (lstat semantics: a symlink, a regular file or a
// wrong major/minor is an error naming the path, what it is and what was
// expected), and returns the grant for `selection`:
//  - none: an empty grant; nothing is read.
//  - all: every /dev/nvidiaN present; explicit indexes must all be present.
//  - nvidiactl is required unless /dev/dxg (WSL2) is present; nvidia-uvm,
//    nvidia-uvm-tools, nvidia-modeset and nvidia-caps/* are added when
//    present.
//  - no /dev/nvidiaN and no /dev/dxg at all: NotFoundError.
// Other nvidia-* nodes (nvswitch, nvlink, IMEX channels, vGPU) are neither
// validated nor granted.
absl::StatusOr<GpuGrant> DiscoverGpus(const GpuSelection& selection,
                                      const GpuDiscoveryOptions& options);

}  // namespace tether::broker

#endif  // TETHER_BROKER_GPU_DEVICES_H_
