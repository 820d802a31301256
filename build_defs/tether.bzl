"""Run a Bazel-built binary or test inside a tether sandbox, in one line.

    load("//build_defs:tether.bzl", "tether_sandboxed_test")

    tether_sandboxed_test(
        name = "my_test_sandboxed",
        binary = ":my_test",
        policy = "my_policy.json",   # optional
    )

The runner copies the broker, the stub and the binary into a fresh
world-readable directory (the workload runs as nobody, which cannot reach
Bazel's runfiles under /root) and runs `tether run -- ./binary ARGS`. The
test passes when the sandboxed binary exits 0. It needs root.
"""

def _runner_args(binary, policy, args):
    runner_args = [
        "$(location //broker:tether)",
        "$(location //stub:tether-stub)",
        "$(location %s)" % binary,
        "$(location %s)" % policy if policy else "-",
    ]
    return runner_args + args

def _data(binary, policy):
    return [
        "//broker:tether",
        "//broker:tether-egress",
        "//stub:tether-stub",
        binary,
    ] + ([policy] if policy else [])

def tether_sandboxed_test(name, binary, policy = None, args = [], tags = [], **kwargs):
    native.sh_test(
        name = name,
        srcs = ["//build_defs:tether_sandboxed_run.sh"],
        args = _runner_args(binary, policy, args),
        data = _data(binary, policy),
        tags = tags + ["no-sandbox", "requires-root"],
        **kwargs
    )

def tether_sandboxed_binary(name, binary, policy = None, args = [], **kwargs):
    """`bazel run :name` runs `binary` inside a tether sandbox."""
    native.sh_binary(
        name = name,
        srcs = ["//build_defs:tether_sandboxed_run.sh"],
        args = _runner_args(binary, policy, args),
        data = _data(binary, policy),
        **kwargs
    )
