#!/bin/sh
# Runs rtrace's kernel-feature tests inside a VM with one of Debian's stock kernels, which have
# what this host's kernel lacks (kprobes, trampolines) and are the versions of the matrix:
#
#   tests/vm/run.sh [-k KERNEL] RTRACE_BINARY [WORKDIR [E2E_TEST_BINARY]]
#
# KERNEL is 6.1 (the default: Debian 12's), 5.10 (Debian 11's) or 6.12 (Debian 13's). The
# newest image package of that version is downloaded with apt-get; for a release other than
# the host's, apt-get is given that release's source list (on the host's own mirror) for the
# download alone, in WORKDIR, never in the system's lists.
#
# With E2E_TEST_BINARY (tests/e2e.rs built by `cargo test --no-run`), the guest runs the
# whole end-to-end suite instead of cases.sh: it mounts this host's root read-only over
# virtio-9p and runs the suite chrooted into it, so the cases find the compilers, shells and
# binaries they use at their usual paths. The guest prints the suite's output, then
# `VM-E2E-EXIT status`. E2E_TEST_BINARY may be any program the host can run (bench/run's
# figure 7 passes bench/vm_kprobes.py); RTRACE_VM_ARGS replaces its arguments (default
# `--test-threads=1 --nocapture`).
#
# Installs qemu-system-x86, busybox-static and cpio when missing, builds an initramfs holding
# busybox, rtrace and its shared libraries and tests/vm/cases.sh, boots it under TCG (KVM
# hangs on these machines, see ../shared/VM.md), and prints the guest's serial console. The
# guest prints one `VM-RESULT PASS|FAIL|SKIP name` line per case and `VM-DONE` at the end;
# tests/vm.rs turns those into the host's test result.
set -eu
kernel=6.1
if [ "${1:-}" = "-k" ]; then
    kernel=$2
    shift 2
fi
case "$kernel" in
    6.1) release=bookworm pattern='^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
    5.10) release=bullseye pattern='^linux-image-5\.10\.0-[0-9]+-amd64$' ;;
    6.12) release=trixie pattern='^linux-image-6\.12\.[0-9]+\+deb13-amd64$' ;;
    *) echo "unknown kernel $kernel: give 6.1, 5.10 or 6.12" >&2; exit 2 ;;
esac
rtrace=$(realpath "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${2:-$root/target/vm}/$kernel
e2e=""
if [ -n "${3:-}" ]; then
    # Copies the guest runs (through the repository's share), so that rebuilding while the
    # suite runs does not change them under it.
    mkdir -p "$root/target/vm-e2e"
    cp "$3" "$root/target/vm-e2e/e2e"
    cp "$rtrace" "$root/target/vm-e2e/rtrace"
    e2e="$root/target/vm-e2e/e2e"
fi
mkdir -p "$work"
cd "$work"

need=""
for pkg in qemu-system-x86 busybox-static cpio; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need="$need $pkg"
done
if [ -n "$need" ]; then
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need >/dev/null
fi

# The newest image package of the kernel version; downloaded once, kept unpacked. The e2e
# mode also needs its modules from the package. apt-get reads the release's package list
# from a source list of its own (the host's mirror, the release's suite), with its own state.
# Debian 13 ships the modules under /usr/lib/modules (merged /usr), older releases under /lib.
if [ ! -f vmlinuz ] || { [ -n "$e2e" ] && [ ! -d kernel/x/lib/modules ] && [ ! -d kernel/x/usr/lib/modules ]; }; then
    mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -1)
    [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
    [ -n "$mirror" ] || { echo "no Debian mirror in the apt sources" >&2; exit 1; }
    mkdir -p apt/lists/partial apt/cache/archives/partial
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $release main" > apt/sources.list
    apt="-o Dir::Etc::SourceList=$PWD/apt/sources.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$PWD/apt/lists -o Dir::Cache=$PWD/apt/cache"
    # shellcheck disable=SC2086 # $apt is several options
    apt-get $apt update -q >/dev/null
    # shellcheck disable=SC2086
    pkg=$(apt-cache $apt search --names-only "$pattern" | awk '{print $1}' | sort -V | tail -1)
    [ -n "$pkg" ] || { echo "no $pattern package in Debian $release" >&2; exit 1; }
    rm -rf kernel && mkdir kernel
    # shellcheck disable=SC2086
    (cd kernel && apt-get $apt download "$pkg" >/dev/null && dpkg-deb -x ./*.deb x)
    cp kernel/x/boot/vmlinuz-* vmlinuz
    echo "$pkg" > kernel-package
fi

# The initramfs: busybox, rtrace (stripped) with its libraries at their paths, the cases.
rm -rf initramfs && mkdir -p initramfs/bin initramfs/proc initramfs/sys initramfs/tmp initramfs/dev
cp /bin/busybox initramfs/bin/busybox
strip -o initramfs/bin/rtrace "$rtrace"
for lib in $(ldd "$rtrace" | awk '/=>/ {print $3} /ld-linux/ {print $1}'); do
    mkdir -p "initramfs$(dirname "$lib")"
    cp -L "$lib" "initramfs$lib"
done
cp "$root/tests/vm/cases.sh" initramfs/cases.sh
# Compiled scripts (issue: portable compiled scripts): built here, for this host's kernel, and
# run in the guest by RTRACE_RUNNER, the runner without LLVM, next to the same script compiled
# in the guest.
if [ -n "${RTRACE_RUNNER:-}" ]; then
    strip -o initramfs/bin/rtrace-run "$RTRACE_RUNNER"
    mkdir -p initramfs/portable
    for script in "$root"/tests/vm/portable/*.bt; do
        name=$(basename "$script" .bt)
        cp "$script" initramfs/portable/
        RTRACE_CACHE=0 "$rtrace" build "$script" -o "initramfs/portable/$name.rtc" 2>/dev/null
    done
fi
if [ -n "$e2e" ]; then
    # The modules that mount the host's root: virtio-pci and 9p, in dependency order.
    modules=$(echo kernel/x/lib/modules/*/kernel kernel/x/usr/lib/modules/*/kernel | tr ' ' '\n' | grep -v '\*' | head -1)
    mkdir -p initramfs/modules
    for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev \
        drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci fs/netfs/netfs fs/fscache/fscache \
        net/9p/9pnet net/9p/9pnet_virtio fs/9p/9p; do
        # Kernels split these differently (5.10 has no virtio_pci_*_dev nor netfs; 6.12's 9pnet
        # needs netfs, 6.1's fscache needs netfs): a module
        # the kernel does not have is built in or not needed there.
        # Debian 13 compresses its modules with xz; busybox's insmod takes them plain.
        if [ -f "$modules/$m.ko" ]; then
            cp "$modules/$m.ko" initramfs/modules/
        elif [ -f "$modules/$m.ko.xz" ]; then
            xz -dc "$modules/$m.ko.xz" > "initramfs/modules/${m##*/}.ko"
        else
            continue
        fi
        echo "${m##*/}" >> initramfs/modules/order
    done
    # The suite runs chrooted into the host's root, with the guest's own /proc, /sys, /dev
    # and a fresh /tmp. RTRACE_E2E_SLOW stretches its waits and timeouts for TCG.
    cat > initramfs/e2e.sh <<E2E
set -u
# In passes: kernels order the dependencies of these differently (6.12's 9pnet needs netfs).
left=\$(cat /modules/order)
for pass in 1 2 3 4; do
    again=""
    for m in \$left; do insmod /modules/\$m.ko 2>/dev/null || again="\$again \$m"; done
    left=\$again
    [ -z "\$left" ] && break
done
[ -z "\$left" ] || echo "VM-E2E insmod failed:\$left"
ip link set lo up
mkdir -p /host
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 hostroot /host || { echo "VM-E2E-EXIT 125"; exit; }
mount -t tmpfs tmpfs /host/tmp
# The repository again at its own path: it may be under /tmp (a fresh clone in CI).
mkdir -p /host$root 2>/dev/null
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 repo /host$root
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t tracefs nodev /host/sys/kernel/tracing
mount -t bpf bpf /host/sys/fs/bpf
mount -t devtmpfs dev /host/dev
mount -t tmpfs tmpfs /host/run
# From the repository, as cargo runs tests: cases name their files relative to it.
chroot /host /bin/sh -c "cd $root && exec /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/tmp RTRACE_E2E_BIN=$root/target/vm-e2e/rtrace RTRACE_E2E_SLOW=${RTRACE_E2E_SLOW:-8} RTRACE_E2E_FILTER=${RTRACE_E2E_FILTER:-} $e2e ${RTRACE_VM_ARGS:---test-threads=1 --nocapture}"
echo "VM-E2E-EXIT \$?"
E2E
    suite="sh /e2e.sh"
    virtfs="-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap -virtfs local,path=$root,mount_tag=repo,security_model=none,readonly=on,multidevs=remap"
    timeout=${RTRACE_VM_TIMEOUT:-5400}
else
    suite="sh /cases.sh"
    virtfs=""
    timeout=600
fi
cat > initramfs/init <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tracefs nodev /sys/kernel/tracing
mount -t devtmpfs dev /dev 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
export PATH=/bin RTRACE_CACHE=0 HOME=/tmp RTRACE_VERIFIER_STATS=/tmp/verifier
: > /tmp/verifier
echo "VM-KERNEL \$(uname -r)"
$suite
echo VM-DONE
poweroff -f
INIT
chmod +x initramfs/init
(cd initramfs && find . | cpio -o -H newc 2>/dev/null | gzip -1) > initramfs.gz

# RTRACE_VM_SMP: the guest's CPUs (default 2).
# loglevel=5: a soft lockup prints its backtrace. (Not a panic: a guest starved of host CPU
# reports lockups that are none.)
# shellcheck disable=SC2086 # $virtfs is empty or several words
exec timeout "$timeout" qemu-system-x86_64 -machine q35 -accel tcg -m 4096 -smp ${RTRACE_VM_SMP:-2} -nographic -no-reboot $virtfs \
    -kernel vmlinuz -initrd initramfs.gz -append 'console=ttyS0 loglevel=5 panic=-1'
