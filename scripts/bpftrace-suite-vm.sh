#!/bin/bash
# bpftrace's runtime suite, its tests of kernel probes (kprobe/kretprobe/fentry/fexit, which
# this kind of host lacks), against rtrace in a VM with one of Debian's kernels:
#
#   scripts/bpftrace-suite-vm.sh [-k KERNEL] RTRACE_BINARY GITDIR [SUITE_SCRIPT]
#
# GITDIR is a fetched bpftrace repository's git directory (its tests are never copied into
# this repository). SUITE_SCRIPT is ../shared/tools/bpftrace-suite.sh: it is run here first,
# with a filter that selects no test, to extract the suite and build bpftrace's test
# programs on the host; that directory is then copied into the guest, at the same path, where
# the runner runs the kernel-probe tests (those whose PROG, RUN, REQUIRES or BEFORE lines, or
# script files, name such probes) against RTRACE_BINARY. The guest is tests/vm/run.sh's E2E
# mode (the host's root, chrooted), under TCG: the runner's attach timeout and every test's
# TIMEOUT are stretched 8x there, nothing else is changed; one virtual CPU (RTRACE_VM_SMP), as
# a 6.12 guest with two once died of an int3 while the kernel patched its text under TCG.
# Prints a count per result and the runner's log to target/vm-ksuite/log.txt. KERNEL: 6.12
# (default), 6.1 or 5.10.
set -eu
kernel=6.12
if [ "${1:-}" = "-k" ]; then kernel=$2; shift 2; fi
bin=$(realpath "$1") mirror=$2
root=$(cd "$(dirname "$0")/.." && pwd)
suite_script=${3:-$root/../shared/tools/bpftrace-suite.sh}
k=$root/target/vm-ksuite
rm -rf "$k" && mkdir -p "$k"
# The suite, extracted and built, with no test run.
work=$(bash "$suite_script" "$bin" "$mirror" '^$' | sed -n 's/^log: \(.*\)\/log.txt$/\1/p')
[ -d "$work/tests" ] || { echo "the suite script made no directory" >&2; exit 1; }
mkdir -p "$k/suite" && cp -a "$work/." "$k/suite/"
rm -f "$k/suite/log.txt"
echo "$work" > "$k/workpath"
# The guest's rtrace is where tests/vm/run.sh puts it.
sed -i "s#\"$bin\"#\"$root/target/vm-e2e/rtrace\"#g" "$k/suite/wrapper.py"
# The kernel-probe tests, by name.
python3 - "$work/tests" > "$k/filter.txt" <<'PY'
import os, re, sys
tests = sys.argv[1]
base = os.path.join(tests, "runtime")
kern = re.compile(r"\b(kprobe|kretprobe|fentry|fexit|kfunc|kretfunc|k|kr|f|fr):|kprobe|fentry|fexit|kfunc")
names = []
for f in sorted(os.listdir(base)):
    p = os.path.join(base, f)
    if not os.path.isfile(p):
        continue
    cur, body = None, {}
    for line in open(p, errors="replace"):
        if line.startswith("NAME "):
            cur = f + "." + line[5:].strip()
            body[cur] = []
        elif cur:
            body[cur].append(line)
    for n, lines in body.items():
        text = [l for l in lines if l.split(" ")[0] in ("PROG", "RUN", "REQUIRES", "BEFORE")]
        scripts = [m for l in text for m in re.findall(r"runtime/scripts/[\w.-]+", l)]
        script_text = "".join(open(os.path.join(tests, s), errors="replace").read() for s in scripts if os.path.exists(os.path.join(tests, s)))
        if any(kern.search(l) for l in text) or kern.search(script_text):
            names.append(n)
print(":".join("^" + re.escape(n).replace(":", ".") + "$" for n in names), end="")
PY
python3=$(python3 -c 'import sys; print(sys.executable)')
cat > "$k/guest.sh" <<GUEST
#!/bin/bash
work=\$(cat $k/workpath)
mkdir -p "\$work" && cp -a $k/suite/. "\$work/"
cd "\$work/tests" || exit 1
sed -i 's/^ATTACH_TIMEOUT = 10\$/ATTACH_TIMEOUT = 80/' runtime/engine/runner.py
sed -i 's/^DEFAULT_TIMEOUT = 5\$/DEFAULT_TIMEOUT = 40/; s/timeout = int(line.strip(. .))\$/timeout = 8 * int(line.strip(" "))/' runtime/engine/parser.py
# Streamed to the console as it runs: a guest that dies keeps what it printed.
BPFTRACE_RUNTIME_TEST_EXECUTABLE="\$work/wrapper.py" $python3 -u runtime/engine/main.py --filter "\$(cat $k/filter.txt)" --allowlist_file "\$work/allow.txt" 2>&1 | sed -u 's/^/KSUITE| /'

GUEST
chmod +x "$k/guest.sh"
RTRACE_VM_SMP=${RTRACE_VM_SMP:-1} RTRACE_VM_ARGS=" " RTRACE_VM_TIMEOUT=${RTRACE_VM_TIMEOUT:-7200} sh "$root/tests/vm/run.sh" -k "$kernel" "$bin" "$root/target/vm" "$k/guest.sh" > "$k/console.txt" 2>&1 || true
sed -n 's/^KSUITE| //p' "$k/console.txt" > "$k/log.txt"
python3 - "$k/log.txt" <<'PY'
import collections, re, sys
res = {}
for line in open(sys.argv[1], errors="replace"):
    line = re.sub(r"\x1b\[[0-9;]*m", "", line.rstrip("\n"))
    m = re.match(r"^\[\s*(OK|FAILED|SKIP|TIMEOUT)\s*\] (.+?)( \(\d+ ms\))?$", line)
    if m and "." in m.group(2) and not m.group(2).startswith("tests"):
        res.setdefault(m.group(2), m.group(1))
c = collections.Counter(res.values())
print(f"bpftrace suite, kernel-probe tests in the VM: {c['OK']} ok, {c['FAILED']} failed, {c['TIMEOUT']} timeout, {c['SKIP']} skipped of {len(res)}")
PY
echo "log: $k/log.txt"
