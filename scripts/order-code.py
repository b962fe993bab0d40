#!/usr/bin/env python3
"""Regenerates linker/used-code.ld, the code sections a compile runs, which the link puts
next to each other (the comment at its top; ARCHITECTURE.md, "The code a compile runs is
linked together").

Builds an unstripped release binary linked without the list (target/order-code) with its link
map, runs it under valgrind's callgrind on every script of examples/ and bench/tools-0.17
(`rtrace build`: parse, check, compile) and on a few real runs, maps each function of rtrace's
executable that ran to the input section holding it (the static LLVM libraries and rustc put
each function in a section of its own), and writes those sections, the ones more runs need
first. Parts of Rust names that change from build to build are written as wildcards.

Run it again after an LLVM or toolchain upgrade, or when much new code runs in a compile; a
stale list only leaves some code where it was.

Usage: scripts/order-code.py     (as root, for the real runs; needs valgrind)
"""
import bisect
import concurrent.futures
import glob
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "target", "order-code")
OUT = os.path.join(ROOT, "linker", "used-code.ld")
# What changes from build to build in a Rust name: the hash of a legacy-mangled name, and the
# suffix of a function that rustc's ThinLTO made global.
UNSTABLE = [(re.compile(r"17h[0-9a-f]{16}E"), "17h*E"), (re.compile(r"\.llvm\.[0-9]+$"), ".llvm.*")]


def pattern(section):
    for unstable, wildcard in UNSTABLE:
        section = unstable.sub(wildcard, section)
    return section


RUNS = [
    ["--no-cache", "-e", "tracepoint:syscalls:sys_enter_getppid { @[comm] = count(); } BEGIN { exit(); }"],
    ["--no-cache", "-e", 'BEGIN { @h = hist(5); @l = lhist(3, 0, 10, 1); @s[str("a"), 1] = stats(2); '
     'printf("%s %d\\n", "x", 1); print(@h); exit(); }'],
    ["--no-cache", "-e", "interval:ms:10 { exit(); } tracepoint:sched:sched_switch { @[kstack(3)] = count(); }"],
]


def build():
    """An unstripped release binary and the link's map (which input section holds which
    address: a function's section is not always named after the symbol a profile reports,
    e.g. a C++ complete-object constructor is an alias in its base-object twin's section)."""
    env = dict(os.environ, CARGO_PROFILE_RELEASE_STRIP="false", RTRACE_UNORDERED_CODE="1")
    link_map = os.path.join(TARGET, "rtrace.map")
    subprocess.run(["cargo", "rustc", "--release", "--bin", "rtrace", "--target-dir", TARGET, "--",
                    "-C", f"link-arg=-Wl,-Map={link_map}"], cwd=ROOT, env=env, check=True)
    return os.path.realpath(os.path.join(TARGET, "release", "rtrace")), link_map


def input_sections(link_map):
    """(address, size, name) of every code input section the link placed, from GNU ld's map:
    ` .text.NAME 0xADDR 0xSIZE FILE`, the name on a line of its own when it is long."""
    placed, name = [], None
    lines = open(link_map, errors="replace").read().split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("Linker script and memory map"))
    for line in lines[start:]:
        if m := re.match(r"^ (\.text\S*)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s", line):
            placed.append((int(m[2], 16), int(m[3], 16), m[1]))
        elif m := re.match(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+\S", line) if name else None:
            placed.append((int(m[1], 16), int(m[2], 16), name))
        name = m[1] if (m := re.match(r"^ (\.text\S*)$", line)) else None
    return sorted(p for p in placed if p[0] and p[1])


def symbols(binary):
    """Function name -> its addresses (a local name can be several functions)."""
    out = {}
    nm = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
    for line in nm.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1] in "tTwW":
            out.setdefault(fields[2], []).append(int(fields[0], 16))
    return out


def profile(binary, argv, out):
    subprocess.run(["valgrind", "--tool=callgrind", "--demangle=no", "--compress-strings=no",
                    f"--callgrind-out-file={out}", binary] + argv,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    ran, ob = [], None
    if not os.path.exists(out):
        return ran
    for line in open(out, errors="replace"):
        if line.startswith("ob="):
            ob = line[3:].strip()
        elif line.startswith("fn=") and ob == binary:
            # callgrind tells apart functions of one name with a suffix: 'N
            ran.append(re.sub(r"'\d+$", "", line[3:].strip()))
    return ran


def main():
    binary, link_map = build()
    scripts = sorted(glob.glob(os.path.join(ROOT, "examples", "**", "*.bt"), recursive=True)
                     + glob.glob(os.path.join(ROOT, "bench", "tools-0.17", "*.bt")))
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [["build", "-o", os.path.join(tmp, f"{i}.rtc"), s] for i, s in enumerate(scripts)] + RUNS
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            runs = list(pool.map(lambda ij: profile(binary, ij[1], os.path.join(tmp, f"cg.{ij[0]}")),
                                 enumerate(jobs)))
    # Each function that ran, by the input section that holds it.
    placed, addresses = input_sections(link_map), symbols(binary)
    starts = [p[0] for p in placed]

    def section(address):
        i = bisect.bisect_right(starts, address) - 1
        start, size, name = placed[i] if i >= 0 else (0, 0, None)
        return name if start <= address < start + size else None

    # Sections that more runs need first (the start-up and front end of every compile, then
    # what fewer scripts use), each once; ties by name so the file is stable. A section named
    # `.text` holds a whole object's code (no function sections: a few C objects): left alone.
    count = {}
    for ran in runs:
        for name in {section(a) for f in set(ran) for a in addresses.get(f, [])}:
            if name and name != ".text":
                count[name] = count.get(name, 0) + 1
    names = sorted(count, key=lambda n: (-count[n], n))
    patterns = list(dict.fromkeys(pattern(name) for name in names))
    with open(OUT, "w") as f:
        f.write(HEADER.format(runs=sum(1 for r in runs if r), functions=len(patterns)))
        f.write("SECTIONS\n{\n  .text.rtrace_used : {\n")
        for p in patterns:
            f.write(f"    *({p})\n")
        f.write("  }\n}\nINSERT BEFORE .text;\n")
    print(f"{OUT}: {len(patterns)} sections from {sum(1 for r in runs if r)} of {len(runs)} runs", file=sys.stderr)


HEADER = """\
/* Generated by scripts/order-code.py: do not edit. The code sections of rtrace's executable
 * that compiling and running scripts executed ({functions} sections, {runs} profiled runs), in
 * one output section ahead of .text. Statically linked LLVM is 30 MB of code of which a
 * compile runs about 5 MB; spread over all of it, the kernel's 64 KiB fault-around mapped most
 * of the 30 MB into a compiling rtrace's resident set; together they fault in as about 7 MB.
 * A section missing here (new code, another LLVM build) only lands in .text as before. */
"""

if __name__ == "__main__":
    main()
