"""A libFuzzer target that is also a corpus regression test."""

def tether_fuzz_target(name, srcs, deps):
    """Defines the fuzzer `name` and the test `name_corpus_test`.

    With --config=fuzz the binary links libFuzzer; otherwise a small driver
    runs the seed corpus, so every ordinary test run replays it.
    """
    native.cc_binary(
        name = name,
        testonly = True,
        srcs = srcs,
        deps = deps + select({
            "//tests/fuzz:fuzzing": [],
            "//conditions:default": ["//tests/fuzz:standalone_main"],
        }),
        linkopts = select({
            "//tests/fuzz:fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
    )
    native.sh_test(
        name = name + "_corpus_test",
        srcs = ["run_corpus.sh"],
        args = [
            "$(location :%s)" % name,
            "tests/fuzz/corpus/" + name,
        ],
        data = [":" + name] + native.glob(["corpus/%s/**" % name]),
    )
