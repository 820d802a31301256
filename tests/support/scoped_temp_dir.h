#ifndef TETHER_TESTS_SUPPORT_SCOPED_TEMP_DIR_H_
#define TETHER_TESTS_SUPPORT_SCOPED_TEMP_DIR_H_

#include <string>

namespace tether::testing {

// A fresh directory under `parent` with `mode` (the workload runs as another
// uid, so tests often want 0755 or 0777), removed with everything in it when
// the object goes.
class ScopedTempDir {
 public:
  explicit ScopedTempDir(const std::string& parent = "/tmp", unsigned mode = 0700);
  ~ScopedTempDir();
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Child(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace tether::testing

#endif  // TETHER_TESTS_SUPPORT_SCOPED_TEMP_DIR_H_
