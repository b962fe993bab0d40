#!/usr/bin/env python3
"""Figure 7's guest half: runs inside the VM of tests/vm/run.sh (E2E mode: the host's root,
chrooted, so /usr/bin/bpftrace is bpftrace 0.17 and RTRACE_E2E_BIN the host's rtrace), on a
kernel with kprobes and kprobe_multi (Debian 13's 6.12).

Picks kprobe wildcards over about 100, 300 and 500 traceable functions of this kernel
(counted from available_filter_functions, as both tools expand them), then, alternating the
tools within each repetition, runs `kprobe:PATTERN { @ = count(); }` with rtrace (`--no-cache`:
parse, check, compile, load, attach) and with bpftrace, and measures from outside, the same
way for both:

- launch to attached: until ftrace's enabled_functions lists every function of the pattern
  (bpftrace 0.17 prints "Attaching N probes..." before it attaches, so no line of either tool
  marks the end point);
- launch to exit: SIGINT once attached, then until the process is gone (its probes detached);
  SIGINT to exit alone, and rtrace's own "attaching took T ms" (-v).

Prints one `FIG7-PATTERN pattern count` line per pattern and one `FIG7 {json}` line per run,
which bench/run reads from the console.
"""

import fnmatch
import json
import os
import re
import signal
import subprocess
import sys
import time

TRACING = "/sys/kernel/tracing"
# Networking and file-system families: rarely called in an idle guest, so the probes'
# own cost does not slow it down while the tools attach.
CANDIDATES = ["tcp_*", "tcp_v4_*", "tcp_*_*", "tcp*", "inet_*", "inet*", "ip_*", "ip*", "udp*",
              "sock_*", "sk_*", "*tcp*", "*sock*", "net*", "xfrm*", "ipv6_*", "*inet*", "*udp*"]
TARGETS = (100, 300, 500)
TIMEOUT_S = 600
STALL_S = 20


def traceable():
    names = set()
    with open(f"{TRACING}/available_filter_functions") as f:
        for line in f:
            names.add(line.split()[0])
    return names


def pick(names):
    """For each target, the candidate whose count is closest (by ratio), each used once."""
    counts = {c: sum(1 for n in names if fnmatch.fnmatchcase(n, c)) for c in CANDIDATES}
    print("FIG7-CANDIDATES " + " ".join(f"{c}={n}" for c, n in counts.items()), flush=True)
    chosen = []
    for t in TARGETS:
        left = [c for c in CANDIDATES if counts[c] > 0 and c not in chosen]
        best = min(left, key=lambda c: max(counts[c], t) / min(counts[c], t))
        chosen.append(best)
    return [(c, counts[c]) for c in chosen]


def enabled():
    with open(f"{TRACING}/enabled_functions") as f:
        return sum(1 for _ in f)


def run(argv, functions, env, idle):
    # The previous run's functions may still be leaving enabled_functions (a killed tool's
    # link is released late): start from the idle count.
    deadline = time.monotonic() + 60
    while enabled() > idle and time.monotonic() < deadline:
        time.sleep(0.05)
    base = idle
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    attached = None
    last, changed = 0, t0
    while time.monotonic() - t0 < TIMEOUT_S:
        now = enabled() - base
        if now >= functions:
            attached = time.monotonic()
            break
        if p.poll() is not None:
            break
        if now != last:
            last, changed = now, time.monotonic()
        # Attached nearly all and no more for a while: the tool left a few functions out
        # (bpftrace 0.17 leaves out one of net*'s 523 on 6.12); attached when the last was.
        if now >= functions * 0.98 and time.monotonic() - changed > STALL_S:
            attached = changed
            break
        if now > 0 and time.monotonic() - changed > STALL_S:
            break
        time.sleep(0.002)
    if attached is None:
        seen = enabled() - base
        p.kill()
        err = p.communicate()[1].decode(errors="replace").strip().splitlines()
        return {"error": f"{seen} of {functions} functions attached; " + (err[-1] if err else f"exit {p.returncode}")}
    count = enabled() - base
    sent = time.monotonic()
    p.send_signal(signal.SIGINT)
    try:
        p.stderr_text = p.communicate(timeout=TIMEOUT_S)[1]
    except subprocess.TimeoutExpired:
        p.kill()
        return {"error": "did not exit after SIGINT"}
    gone = time.monotonic()
    # Launch to exit leaves out the wait of a stalled attach: launch to attached, then SIGINT
    # to exit (the two are one span when the signal follows the attach at once).
    r = {"attached_ms": (attached - t0) * 1e3, "exit_ms": (attached - t0 + gone - sent) * 1e3,
         "sigint_to_exit_ms": (gone - sent) * 1e3, "attached": count}
    # rtrace -v's own measure of its attach loop.
    own = re.search(rb"attaching took ([0-9.]+) ms", p.stderr_text)
    if own:
        r["own_attach_ms"] = float(own.group(1))
    return r


def main():
    reps = 3
    if "--reps" in sys.argv:
        reps = int(sys.argv[sys.argv.index("--reps") + 1])
    rtrace = os.environ["RTRACE_E2E_BIN"]
    bpftrace = "/usr/bin/bpftrace"
    env = dict(os.environ, RTRACE_CACHE="0", BPFTRACE_MAX_PROBES="4096")
    patterns = pick(traceable())
    idle = enabled()
    for pattern, count in patterns:
        print(f"FIG7-PATTERN {pattern} {count}", flush=True)
    for rep in range(reps):
        for pattern, count in patterns:
            script = f"kprobe:{pattern} {{ @ = count(); }}"
            for tool, argv in (("rtrace", [rtrace, "-v", "--no-cache", "-e", script]), ("bpftrace", [bpftrace, "-e", script])):
                r = run(argv, count, env, idle)
                r.update(tool=tool, pattern=pattern, functions=count, rep=rep)
                print("FIG7 " + json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
