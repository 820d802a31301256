#ifndef TETHER_BROKER_JSON_WRITER_H_
#define TETHER_BROKER_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

namespace tether::broker {

// Writes one JSON value in order, without a DOM. Callers open and close
// objects and arrays; keys are escaped like strings.
class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(absl::string_view key);
  JsonWriter& String(absl::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();

  const std::string& str() const { return out_; }

 private:
  void Separate();
  std::string out_;
  bool need_comma_ = false;
};

std::string JsonEscape(absl::string_view text);

}  // namespace tether::broker

#endif  // TETHER_BROKER_JSON_WRITER_H_
