#!/usr/bin/env python3
"""Writes broker/hot_sections.ld: the broker's code and constants that its
commands touch, placed together at the front of .text and .rodata.

Why: every page a process touches for the first time costs a page fault, and
under shadow paging (a VM without nested paging) a trap to the hypervisor as
well. The broker is linked from archives in whatever order the linker meets
them, so the few hundred functions a launch runs are spread over the whole of
its 3 MB of code, a page or two of each 4 KB used. Grouped, a start touches
fewer pages: the linker script this writes lists the input sections that ran,
busiest first, and GNU ld places them in .text.hot and .rodata.hot ahead of
everything else (INSERT BEFORE keeps the default script for the rest).

How: the release broker is linked again with a link map, then profiled with
perf (cpu-clock with call chains, at a fixed load address) while it runs
`probe`, `policy check`, `run` and a `serve` sidecar with stubs one and eight
at a time. Each sample's innermost frame in the broker, whether it ran there
or trapped into the kernel (a page fault lands on the instruction that
touched the page), names the input section it belongs to. Constants go with
their code: the string and jump-table sections named after a hot function,
and the read-only data of an archive member whose code is hot.

A stale list costs speed, never correctness: a pattern that matches no
section places nothing, and a section no pattern names is laid out as before.

Usage (as root, with perf and setarch installed, from the repository root):
    build_defs/hot_sections.py [--runs N]
"""

import argparse
import bisect
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap

# Where setarch -R (no ASLR) maps a PIE executable on x86-64.
FIXED_BASE = 0x555555554000
OUTPUT = "broker/hot_sections.ld"
GENERIC = re.compile(r"^\.(text|rodata)(\.(str\d\.\d+|cst\d+))?$")

SERVE_LOAD = textwrap.dedent(
    """\
    import os, sys, threading
    concurrency, launches, command = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    failed = []
    def launcher(first):
        for _ in range(first, launches, concurrency):
            pid = os.posix_spawn(command[0], command, os.environ)
            _, status = os.waitpid(pid, 0)
            if status != 0:
                failed.append(status)
    threads = [threading.Thread(target=launcher, args=(t,)) for t in range(concurrency)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    if failed:
        sys.exit(f"{len(failed)} sidecar launches failed")
    """
)


def run(command, **kwargs):
    return subprocess.run(command, check=True, **kwargs)


def build(scratch):
    """The release broker relinked with a map, its stub beside it."""
    run(["bazel", "build", "--config=release", "//broker:tether", "//stub:tether-stub",
         "//bench:static_true"])
    bin_dir = run(["bazel", "info", "--config=release", "bazel-bin"], capture_output=True,
                  text=True).stdout.strip()
    execroot = run(["bazel", "info", "--config=release", "execution_root"], capture_output=True,
                   text=True).stdout.strip()
    params = os.path.join(os.path.relpath(bin_dir, execroot), "broker", "tether-2.params")
    broker = os.path.join(scratch, "tether")
    # The same link, from the same parameters: a later -o wins.
    run(["gcc", "@" + params, "-o", broker, "-Wl,-Map=" + broker + ".map"], cwd=execroot)
    shutil.copy(os.path.join(bin_dir, "stub", "tether-stub"), scratch)
    return broker, os.path.join(bin_dir, "bench", "static_true")


def input_sections(map_path):
    """(address, size, section, file, output section) of every placed input section."""
    lines = open(map_path).read().split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("Linker script and memory"))
    sections, output, pending = [], None, None
    for line in lines[start:]:
        head = re.match(r"^(\.\S+)", line)
        if head:
            output, pending = head.group(1), None
        one_line = re.match(r"^ (\.\S+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(\S.*)$", line)
        if one_line:
            name, address, size, source = one_line.groups()
            sections.append((int(address, 16), int(size, 16), name, source, output))
            continue
        named = re.match(r"^ (\.\S+)$", line)
        if named:
            pending = named.group(1)
            continue
        placed = re.match(r"^\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(\S.*)$", line)
        if placed and pending:
            address, size, source = placed.groups()
            sections.append((int(address, 16), int(size, 16), pending, source, output))
            pending = None
    return sorted(s for s in sections if s[0] > 0 and s[1] > 0)


def profile(broker, static_true, scratch, runs):
    """perf script's text for each group of the broker's commands, in the
    order their code is laid out: the short commands first, where a page
    saved is the largest share, then `run`, then a sidecar's."""
    workdir = os.path.join(scratch, "work")
    os.makedirs(workdir)
    os.chmod(scratch, 0o755)
    os.chmod(workdir, 0o755)
    workload = os.path.join(workdir, "static_true")
    shutil.copy(static_true, workload)
    os.chmod(workload, 0o755)
    policy = os.path.join(workdir, "empty.json")
    open(policy, "w").write("{}\n")
    load = os.path.join(scratch, "serve_load.py")
    open(load, "w").write(SERVE_LOAD)
    stub = os.path.join(scratch, "tether-stub")
    socket = os.path.join(scratch, "serve.sock")
    # The short commands three times as often: a short function that shares
    # a page with busier ones draws few samples, and one missed lands among
    # the cold code.
    groups = [
        f"""
        for i in $(seq {3 * runs}); do
          {broker} probe >/dev/null
          {broker} policy check {policy} >/dev/null
        done
        {broker} --help >/dev/null
        """,
        f"""
        for i in $(seq {runs}); do {broker} run -- {workload}; done
        """,
        f"""
        {broker} serve --socket {socket} --allow-uid 0 --max-sessions 128 \\
          --max-pending-per-uid 64 2>/dev/null &
        server=$!
        while [ ! -S {socket} ]; do sleep 0.1; done
        /usr/bin/python3 {load} 1 {runs} {stub} --connect {socket} -- {workload}
        /usr/bin/python3 {load} 8 {runs} {stub} --connect {socket} -- {workload}
        kill $server
        wait $server || true
        """,
    ]
    scripts = []
    for i, group in enumerate(groups):
        data = os.path.join(scratch, f"perf{i}.data")
        driver = f"set -e\ncd {workdir}\n" + textwrap.dedent(group)
        run(["setarch", "-R", "perf", "record", "-q", "-g", "-F", "20000", "-e", "cpu-clock",
             "-o", data, "--", "sh", "-c", driver])
        scripts.append(run(["perf", "script", "-i", data, "--comm", "tether", "-F", "ip,dso"],
                           capture_output=True, text=True).stdout)
    return scripts


def hot_code(samples, sections, broker):
    """Input sections by the samples whose innermost broker frame is in them."""
    starts = [s[0] for s in sections]
    counts = collections.Counter()
    innermost = None
    for line in samples.split("\n") + [""]:
        fields = line.split()
        if not fields:
            if innermost is not None:
                counts[innermost] += 1
            innermost = None
            continue
        if innermost is not None or len(fields) < 2 or fields[-1] != f"({broker})":
            continue
        address = int(fields[0], 16)
        if address >= FIXED_BASE:
            address -= FIXED_BASE
        i = bisect.bisect_right(starts, address) - 1
        in_code = sections[i][4] in (".text", ".text.hot")
        if i >= 0 and address < sections[i][0] + sections[i][1] and in_code:
            innermost = i
    return [sections[i] for i, _ in counts.most_common()]


def hot_constants(code, sections):
    """Read-only data that goes with the hot code (see the module's comment)."""
    by_function = collections.defaultdict(list)
    by_file = collections.defaultdict(list)
    for section in sections:
        if section[4] not in (".rodata", ".rodata.hot"):
            continue
        named = re.match(r"^\.rodata\.(.+?)(\.str\d\.\d+)?$", section[2])
        if named and not GENERIC.match(section[2]):
            by_function[named.group(1)].append(section)
        else:
            by_file[section[3]].append(section)
    constants, files = [], set()
    for section in code:
        if section[2].startswith(".text."):
            constants += by_function.get(section[2][len(".text."):], [])
        if section[3] not in files:
            files.add(section[3])
            constants += by_file.get(section[3], [])
    return constants


def pattern(section):
    """A linker script pattern for one input section: by name where the name
    is the function's, by archive member where every member has one."""
    name, source = section[2], section[3]
    if not GENERIC.match(name):
        return f"*({name})"
    member = re.match(r".*/([^/(]+)\(([^)]+)\)$", source)
    if member:
        return f"*{member.group(1)}:{member.group(2)}({name})"
    return f"*{os.path.basename(source)}({name})"


def unique_patterns(sections):
    seen, patterns = set(), []
    for section in sections:
        candidates = [pattern(section)]
        # Optimized builds put functions run once (main, constructors) in
        # .text.startup.NAME; others in .text.NAME.
        if section[2].startswith(".text.startup."):
            candidates.append("*(.text." + section[2][len(".text.startup."):] + ")")
        for p in candidates:
            if p not in seen:
                seen.add(p)
                patterns.append(p)
    return patterns


def script(code, constants):
    text = "\n    ".join(unique_patterns(code))
    rodata = "\n    ".join(unique_patterns(constants))
    return textwrap.dedent(
        """\
        /* Generated by build_defs/hot_sections.py: the input sections the
           broker's commands run, busiest first (see that file). Regenerate it
           with ./dev hot-sections; do not edit by hand. */
        SECTIONS
        {{
          .text.hot :
          {{
            {text}
          }}
        }}
        INSERT BEFORE .text;
        /* On a page of its own, so that it lands in the read-only segment and
           not in the executable one before it. */
        SECTIONS
        {{
          . = ALIGN(CONSTANT (MAXPAGESIZE));
          .rodata.hot :
          {{
            {rodata}
          }}
        }}
        INSERT BEFORE .rodata;
        """
    ).format(text=text, rodata=rodata)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=300, help="launches of each kind profiled")
    args = parser.parse_args()
    for tool in ("perf", "setarch", "gcc", "bazel"):
        if shutil.which(tool) is None:
            sys.exit(f"hot_sections: {tool} is not installed")
    with tempfile.TemporaryDirectory(prefix="tether-hot-") as scratch:
        broker, static_true = build(scratch)
        sections = input_sections(broker + ".map")
        code = []
        for samples in profile(broker, static_true, scratch, args.runs):
            code += [s for s in hot_code(samples, sections, broker) if s not in code]
        if not code:
            sys.exit("hot_sections: no sample fell in the broker's code")
        constants = hot_constants(code, sections)
        open(OUTPUT, "w").write(script(code, constants))
        print(f"hot_sections: {len(code)} code sections ({sum(s[1] for s in code)} bytes) and "
              f"{len(constants)} constant sections ({sum(s[1] for s in constants)} bytes) "
              f"in {OUTPUT}")


if __name__ == "__main__":
    main()
