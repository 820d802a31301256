#include "policy/policy_types.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tether::policy {
namespace {

bool AllDigits(absl::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
}

}  // namespace

const char* NetworkModeName(NetworkMode mode) {
  switch (mode) {
    case NetworkMode::kIsolated: return "isolated";
    case NetworkMode::kHost: return "host";
    case NetworkMode::kAuto: return "auto";
  }
  return "unknown";
}

bool ParseNetworkMode(absl::string_view text, NetworkMode* mode) {
  for (NetworkMode candidate : {NetworkMode::kIsolated, NetworkMode::kHost, NetworkMode::kAuto}) {
    if (text == NetworkModeName(candidate)) {
      *mode = candidate;
      return true;
    }
  }
  return false;
}

const char* EnforcementModeName(EnforcementMode mode) {
  return mode == EnforcementMode::kStrict ? "strict" : "best_effort";
}

bool ParseEnforcementMode(absl::string_view text, EnforcementMode* mode) {
  if (text == "strict") {
    *mode = EnforcementMode::kStrict;
  } else if (text == "best_effort") {
    *mode = EnforcementMode::kBestEffort;
  } else {
    return false;
  }
  return true;
}

const char* LandlockCompatibilityName(LandlockCompatibility compatibility) {
  return compatibility == LandlockCompatibility::kHardRequirement ? "hard_requirement"
                                                                  : "best_effort";
}

bool ParseLandlockCompatibility(absl::string_view text, LandlockCompatibility* compatibility) {
  if (text == "hard_requirement") {
    *compatibility = LandlockCompatibility::kHardRequirement;
  } else if (text == "best_effort") {
    *compatibility = LandlockCompatibility::kBestEffort;
  } else {
    return false;
  }
  return true;
}

const char* ProcConflictName(ProcConflict conflict) {
  switch (conflict) {
    case ProcConflict::kPromote: return "promote";
    case ProcConflict::kKeepUser: return "keep_user";
    case ProcConflict::kReject: return "reject";
  }
  return "unknown";
}

bool ParseProcConflict(absl::string_view text, ProcConflict* conflict) {
  for (ProcConflict candidate :
       {ProcConflict::kPromote, ProcConflict::kKeepUser, ProcConflict::kReject}) {
    if (text == ProcConflictName(candidate)) {
      *conflict = candidate;
      return true;
    }
  }
  return false;
}

absl::StatusOr<GpuSelection> ParseGpuSelection(absl::string_view text) {
  absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  if (trimmed.empty()) {
    return absl::InvalidArgumentError(
        "empty GPU selection: expected \"all\", \"none\" or a comma list of "
        "GPU indexes");
  }
  GpuSelection selection;
  if (trimmed == "all") {
    selection.all = true;
    return selection;
  }
  if (trimmed == "none" || trimmed == "void") return selection;

  std::set<int> seen;
  for (absl::string_view raw : absl::StrSplit(trimmed, ',')) {
    absl::string_view token = absl::StripAsciiWhitespace(raw);
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("GPU selection \"", trimmed, "\": \"", token, "\" ", why));
    };
    if (token == "all" || token == "none" || token == "void") {
      return bad("cannot be combined with other entries");
    }
    if (absl::string_view digits = token; absl::ConsumePrefix(&digits, "-") && AllDigits(digits)) {
      return bad("is negative; GPU indexes start at 0");
    }
    if (!AllDigits(token)) {
      return bad(
          "is not \"all\", \"none\", \"void\" or a decimal GPU index (UUIDs "
          "and MIG devices are not supported)");
    }
    int index = 0;
    if (token.size() > 3 || !absl::SimpleAtoi(token, &index) || index > kMaxGpuIndex) {
      return bad(absl::StrCat("is above the highest GPU index, ", kMaxGpuIndex));
    }
    if (!seen.insert(index).second) {
      return bad(absl::StrCat("is a duplicate: GPU index ", index, " is listed twice"));
    }
    selection.indexes.push_back(index);
  }
  return selection;
}

uint32_t Netmask(int prefix) { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }

absl::StatusOr<Ipv4Cidr> ParseIpv4Cidr(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '/');
  if (parts.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", absl::CHexEscape(text), "' is not ADDRESS/PREFIX"));
  }
  Ipv4Cidr cidr;
  struct in_addr in;
  // inet_pton takes only four decimal octets: no "10.1", hex or octal forms.
  if (inet_pton(AF_INET, std::string(parts[0]).c_str(), &in) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("'", absl::CHexEscape(parts[0]), "' in '",
                                                   absl::CHexEscape(text),
                                                   "' is not a dotted-quad IPv4 address"));
  }
  cidr.address = ntohl(in.s_addr);
  bool digits = !parts[1].empty() && parts[1].size() <= 2;
  for (char c : parts[1]) digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
  if (!digits || !absl::SimpleAtoi(parts[1], &cidr.prefix) || cidr.prefix > 32) {
    return absl::InvalidArgumentError(absl::StrCat("prefix '", absl::CHexEscape(parts[1]), "' in '",
                                                   absl::CHexEscape(text),
                                                   "' is not a number from 0 to 32"));
  }
  return cidr;
}

std::string FormatIpv4Cidr(uint32_t address, int prefix_length) {
  struct in_addr in = {htonl(address)};
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &in, text, sizeof(text));
  return absl::StrCat(text, "/", prefix_length);
}

absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text) {
  absl::string_view digits = text;
  uint64_t unit = 1;
  if (!digits.empty()) {
    switch (absl::ascii_tolower(digits.back())) {
      case 'k': unit = uint64_t{1} << 10; break;
      case 'm': unit = uint64_t{1} << 20; break;
      case 'g': unit = uint64_t{1} << 30; break;
      default: break;
    }
    if (unit != 1) digits.remove_suffix(1);
  }
  uint64_t value = 0;
  bool all_digits = !digits.empty() && digits.size() <= 13 &&
                    std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit);
  constexpr uint64_t kMin = 4096, kMax = uint64_t{1} << 40;
  if (!all_digits || !absl::SimpleAtoi(digits, &value) || value > kMax / unit ||
      value * unit < kMin) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text, "' is not a size from 4k to 1024g (a number of bytes, or with k, m or g)"));
  }
  return value * unit;
}

}  // namespace tether::policy
