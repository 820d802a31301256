"""C++ code generated from a .capnp schema by Debian's `capnp compile`."""

def capnp_cc_library(name, src, deps = []):
    """Compiles `src` (foo.capnp) into the cc_library `name`.

    The header is included as "<package>/foo.capnp.h".
    """
    header = src + ".h"
    source = src + ".c++"
    native.genrule(
        name = name + "_gen",
        srcs = [src],
        outs = [header, source],
        cmd = "capnp compile -I/usr/include --src-prefix=$$(dirname $(location %s)) " % src +
              "-oc++:$(RULEDIR) $(location %s)" % src,
    )

    # Bazel compiles only .cc sources, and capnp names its output .c++.
    native.genrule(
        name = name + "_cc",
        srcs = [source],
        outs = [src + ".cc"],
        cmd = "cp $< $@",
    )
    native.cc_library(
        name = name,
        srcs = [src + ".cc"],
        hdrs = [header],
        include_prefix = native.package_name(),
        strip_include_prefix = "",
        deps = deps + ["//third_party/system:capnp"],
    )
