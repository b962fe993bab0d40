# The two commands the README starts with. Both install missing system packages first.

DEMO := tracepoint:syscalls:sys_enter_openat { @[comm] = count(); } interval:s:5 { exit(); }

.PHONY: run test deps build

# Build rtrace and trace file opens by process for five seconds.
run: deps
	cargo build --release
	./target/release/rtrace -e '$(DEMO)'

# The whole test suite: unit and snapshot tests, examples, end-to-end on the real kernel.
test: deps
	cargo test

deps:
	sh scripts/deps.sh

build: deps
	cargo build --release
