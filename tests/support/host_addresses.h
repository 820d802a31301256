#ifndef TETHER_TESTS_SUPPORT_HOST_ADDRESSES_H_
#define TETHER_TESTS_SUPPORT_HOST_ADDRESSES_H_

#include <string>
#include <vector>

namespace tether::testing {

// Every IPv4 address of this host's interfaces, 127.0.0.1 first, each once:
// the places a sandbox must not reach the host at. Empty if getifaddrs
// fails.
std::vector<std::string> HostIpv4Addresses();

}  // namespace tether::testing

#endif  // TETHER_TESTS_SUPPORT_HOST_ADDRESSES_H_
