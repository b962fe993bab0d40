# The two commands the README starts with. Both install missing system packages first.

DEMO := tracepoint:syscalls:sys_enter_openat { @[comm] = count(); } interval:s:5 { exit(); }

.PHONY: run test deps build

# Build rtrace and trace file opens by process for five seconds, with a little background
# work (a few `cat`s) so there is something to count on an idle machine.
run: deps
	cargo build --release
	(sleep 2; for i in 1 2 3; do cat /etc/os-release > /dev/null; done) &
	./target/release/rtrace -e '$(DEMO)'

# The whole test suite: unit and snapshot tests, examples, end-to-end on the real kernel.
test: deps
	cargo test

deps:
	sh scripts/deps.sh

build: deps
	cargo build --release
