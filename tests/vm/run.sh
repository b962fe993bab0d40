#!/bin/sh
# Runs rtrace's kernel-feature tests inside a VM with Debian's stock 6.1 kernel, which has
# what this host's kernel lacks (kprobes; also a second kernel version for the rest).
#
#   tests/vm/run.sh RTRACE_BINARY [WORKDIR]
#
# Installs qemu-system-x86, busybox-static and cpio when missing, downloads the kernel package
# with apt-get (cached in WORKDIR, default target/vm), builds an initramfs holding busybox,
# rtrace and its shared libraries and tests/vm/cases.sh, boots it under TCG (KVM hangs on
# these machines, see ../shared/VM.md), and prints the guest's serial console. The guest
# prints one `VM-RESULT PASS|FAIL name` line per case and `VM-DONE` at the end; tests/vm.rs
# turns those into the host's test result.
set -eu
rtrace=$(realpath "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${2:-$root/target/vm}
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

# The newest Debian 6.1 kernel image package; downloaded once.
if [ ! -f vmlinuz ]; then
    pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -1)
    [ -n "$pkg" ] || { echo "no linux-image-6.1.0-*-amd64 package in the apt sources" >&2; exit 1; }
    rm -rf kernel && mkdir kernel
    (cd kernel && apt-get download "$pkg" >/dev/null && dpkg-deb -x ./*.deb x)
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
cat > initramfs/init <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tracefs nodev /sys/kernel/tracing
mount -t devtmpfs dev /dev 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
export PATH=/bin RTRACE_CACHE=0 HOME=/tmp
echo "VM-KERNEL $(uname -r)"
sh /cases.sh
echo VM-DONE
poweroff -f
INIT
chmod +x initramfs/init
(cd initramfs && find . | cpio -o -H newc 2>/dev/null | gzip -1) > initramfs.gz

exec timeout 600 qemu-system-x86_64 -machine q35 -accel tcg -m 2048 -smp 2 -nographic -no-reboot \
    -kernel vmlinuz -initrd initramfs.gz -append 'console=ttyS0 quiet panic=-1'
