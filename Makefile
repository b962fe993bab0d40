# The two commands the README starts with. Both install missing system packages first.

DEMO := tracepoint:syscalls:sys_enter_openat { @[comm] = count(); } interval:s:5 { exit(); }

.PHONY: run test deps build vm-e2e fuzz

# Build rtrace and trace file opens by process for five seconds, with a little background
# work (a few `cat`s) so there is something to count on an idle machine.
run: deps
	cargo build --release
	(sleep 2; for i in 1 2 3; do cat /etc/os-release > /dev/null; done) &
	./target/release/rtrace -e '$(DEMO)'

# The whole test suite: unit and snapshot tests, examples, end-to-end on the real kernel;
# then each fuzz target for 15 s from the seeds (about two and a half minutes with the
# fuzz build; fails on any crash).
test: deps
	cargo test
	sh scripts/fuzz.sh smoke 15

deps:
	sh scripts/deps.sh

build: deps
	cargo build --release

# The whole end-to-end suite again inside a VM with one of Debian's kernels of the matrix
# (KERNEL=5.10, 6.1 or 6.12; tests/vm/run.sh; about half an hour under TCG). Prints the
# suite's output and fails when a case fails.
KERNEL ?= 6.1
vm-e2e: deps
	cargo build --release
	cargo test --release --test e2e --no-run
	sh tests/vm/run.sh -k $(KERNEL) target/release/rtrace target/vm \
	    $$(cargo test --release --test e2e --no-run 2>&1 | sed -n 's/.*Executable tests\/e2e.rs (\(.*\))/\1/p') | tee target/vm-e2e-$(KERNEL).log
	grep -q 'VM-E2E-EXIT 0' target/vm-e2e-$(KERNEL).log

# Coverage-guided fuzzing for as long as you like: TARGET is parse, sema or codegen, SECONDS
# how long. Inputs that reached new code are kept in fuzz/corpus/TARGET for the next run;
# a crash is written to fuzz/artifacts/TARGET and fails the run. BPFTRACE_GIT_DIR=<bpftrace
# git dir> adds bpftrace's tools and runtime test programs to the seeds (scripts/fuzz.sh).
TARGET ?= sema
SECONDS ?= 3600
fuzz: deps
	sh scripts/fuzz.sh run $(TARGET) $(SECONDS)
