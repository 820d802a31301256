#ifndef TETHER_TESTS_SUPPORT_SCOPED_TEMP_DIR_H_
#define TETHER_TESTS_SUPPORT_SCOPED_TEMP_DIR_H_

#include <string>

namespace tether::testing {

// A fresh directory under `parent` (mode 0700), removed with everything in
// it when the object goes. Tests that need another mode chmod it.
class ScopedTempDir {
 public:
  explicit ScopedTempDir(const std::string& parent = "/tmp");
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
