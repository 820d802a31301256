// Keeps the C++ standard streams (std::cout, std::cerr, std::clog, std::cin
// and their wide forms) unconstructed in the broker, which never uses them.
//
// Every translation unit that includes <iostream> constructs a static
// std::ios_base::Init, and Debian's absl/status/status.h includes it, so
// the broker's code and the abseil archives it links do. The first Init
// builds the eight stream objects and, for them, the classic locale with
// all its facets: on this project's VMs about 0.2 ms and a dozen page
// faults on every broker start, `tether probe` and `tether policy check`
// included, for streams nothing writes to. The broker's diagnostics go
// through stdio and write(2).
//
// The broker is linked with --wrap for Init's constructor and destructor
// (broker/BUILD.bazel), so that the static objects call these instead, and
// libstdc++'s ios_init.o, which holds the real ones, is not linked at all.
// A locale is still built the first time one is asked for (a
// std::ostringstream, say): libstdc++ initializes the classic locale once,
// on first use, whatever Init did.
//
// What this gives up: a write to a standard stream would find an object
// never constructed and crash. broker:standard_streams_test lists every
// function in the broker that refers to one and fails on any but abseil's
// cord validation, which writes its dump to std::cout just before it
// aborts the process on a corrupt cord (and the broker makes no cord).
// Sanitizer builds leave this file and the --wrap out (broker/BUILD.bazel).

extern "C" {

// std::ios_base::Init::Init(), the complete-object constructor.
void __wrap__ZNSt8ios_base4InitC1Ev(void* /*self*/) {}

// std::ios_base::Init::~Init(), registered with atexit by each static Init.
void __wrap__ZNSt8ios_base4InitD1Ev(void* /*self*/) {}

}  // extern "C"
