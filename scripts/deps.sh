#!/bin/sh
# Installs, on Debian 12 as root, the system packages rtrace builds against, when missing:
# LLVM 19 (linked statically: needs its Polly and the compression/XML libraries LLVM uses),
# GNU ld (binutils; build.rs links with it), gcc and <sys/sdt.h> for the uprobe and usdt
# test programs, g++ for libFuzzer (the fuzz targets, scripts/fuzz.sh), python3 and
# openssl, which test workloads run, and what tests/fleet.rs drives: prometheus (scrapes
# --metrics), chromium (renders --flamegraph's SVG) and tmux (a terminal for --live and the
# progress line).
set -eu
need=""
for pkg in llvm-19-dev libpolly-19-dev libzstd-dev zlib1g-dev libxml2-dev libffi-dev libz3-dev pkg-config binutils gcc g++ systemtap-sdt-dev python3 openssl prometheus chromium tmux; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need="$need $pkg"
done
if [ -n "$need" ]; then
    echo "installing:$need"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need
fi
command -v cargo >/dev/null || { echo "cargo is missing: install a Rust toolchain (rustup) first" >&2; exit 1; }
# tracefs is where tracepoint formats come from.
if [ ! -d /sys/kernel/tracing/events ]; then
    mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
fi
