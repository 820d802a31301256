#include "kernel/exec.h"

#include <errno.h>

namespace tether::kernel {

int ExitStatusForExecErrno(int error) {
  return error == ENOENT ? kExitNotFound : kExitCannotExecute;
}

}  // namespace tether::kernel
