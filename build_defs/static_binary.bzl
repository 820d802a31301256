"""Binaries linked static, except in sanitizer builds.

Both drop unused code: the project compiles with -ffunction-sections and
-fdata-sections (.bazelrc), and these link with --gc-sections.
"""

def _static_binary(name, static_linkopts, kwargs, features = []):
    native.cc_binary(
        name = name,
        linkstatic = True,
        linkopts = kwargs.pop("linkopts", []) + ["-Wl,--gc-sections"] + select({
            "//build_defs:sanitized": [],
            "//conditions:default": static_linkopts,
        }),
        features = kwargs.pop("features", []) + features,
        **kwargs
    )

def static_cc_binary(name, **kwargs):
    """Fully static: glibc included (the stub, test helpers)."""
    _static_binary(name, ["-static"], kwargs)

def static_but_libc_cc_binary(name, **kwargs):
    """Everything static but glibc (the broker).

    glibc stays shared because of NSS: getpwnam_r (--user by name) and
    getaddrinfo (the egress proxy) load modules (files, dns, sss, ldap...)
    that must come from the same glibc as the one that loads them, which a
    static glibc cannot promise. Every other library is a Debian static
    archive (third_party/system); libstdc++ is the toolchain's archive for
    every binary (BAZEL_LINKLIBS in .bazelrc) and libgcc is static here.

    Linked by GNU ld with packed relative relocations (DT_RELR, glibc 2.36):
    a position-independent broker keeps ASLR, and ld.so applies its ten
    thousand relative relocations from a 2 KB bitmap instead of a 250 KB
    table, on every start. gold knows no DT_RELR, and GNU ld no
    --start-lib, which Bazel's gold toolchain would pass. The broker then
    needs glibc 2.36 or later (GLIBC_ABI_DT_RELR), as Debian 12 has; an
    older ld.so refuses to load it rather than misapply its relocations.

    Shared libraries are linked --as-needed, with libc.so.6 named first:
    the math functions libm.so.6 shares with libc.so.6 then bind to libc,
    and libm.so.6 (which BAZEL_LINKLIBS names for every binary) is loaded
    only where a function found in it alone is called. The broker defines
    its few (broker/no_libm.cc) and so starts with libc.so.6 alone.
    """
    _static_binary(
        name,
        [
            "-static-libgcc",
            "-fuse-ld=bfd",
            "-Wl,-z,pack-relative-relocs",
            "-Wl,--as-needed",
            "-lc",
        ],
        kwargs,
        features = ["-supports_start_end_lib"],
    )

