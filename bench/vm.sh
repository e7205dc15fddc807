#!/bin/sh
# make bench, boot: time from `ktpack run` to the guest command's first
# output and to the host prompt, under TCG: the vmlinux through its PVH entry
# against the bzImage (--no-pvh), in the same run, interleaved; what the
# first run pays to extract the vmlinux; the base initramfs cached (warm)
# and not (cold); the size of that initramfs against the host's initrd; and
# the arm64 guest (Debian's arm64 kernel, qemu-system-aarch64 under TCG)
# next to the x86 one, in the same loop (no target: it says what to expect).
#   bench/vm.sh KTPACK KERNEL WORKDIR [ARM64_KERNEL]
set -eu
. "$(dirname "$0")/lib.sh"
KTPACK=$1 KERNEL=$2 W=$3
KERNEL_ARM64=${4:-/var/cache/ktpack/arm64/vmlinuz}
# the arm64 guest when there is its kernel, its QEMU and its init
arm=
if [ -r "$KERNEL_ARM64" ] && command -v qemu-system-aarch64 > /dev/null &&
	"$KTPACK" blobs | grep -q "^init  *aarch64  *[1-9]"; then
	arm=1
fi
RUNS=${BENCH_VM_RUNS:-5}
vm_bench boot

# one_run FILE [OPTION...]: appends "first_ns total_ns" for one boot to FILE
one_run() {
	f=$1
	shift
	first_output "$KTPACK" "$KERNEL" "$W" "$@" >> "$f"
}

# The first run extracts the vmlinux (and builds the base): its cost alone.
: > "$W/cold"
for i in 1 2 3; do
	rm -rf "$KTSTR_CACHE_DIR"
	one_run "$W/cold"
done
: > "$W/pvh"
: > "$W/bz"
: > "$W/arm"
[ -z "$arm" ] || first_output "$KTPACK" "$KERNEL_ARM64" "$W" > /dev/null	# its base
i=0
while [ $i -lt "$RUNS" ]; do
	one_run "$W/pvh"
	one_run "$W/bz" --no-pvh
	[ -z "$arm" ] || first_output "$KTPACK" "$KERNEL_ARM64" "$W" >> "$W/arm"
	i=$((i + 1))
done
: > "$W/coldbase"
for i in 1 2 3; do
	rm -f "$KTSTR_CACHE_DIR"/initramfs-*
	one_run "$W/coldbase"
done

pvh=$(median "$W/pvh" 1) bz=$(median "$W/bz" 1)
echo "boot of $(basename "$(readlink -f "$KERNEL")") under TCG, median of $RUNS runs each:"
echo "  first output, vmlinux through PVH   $(ms "$pvh")"
echo "  first output, bzImage               $(ms "$bz")"
echo "  host prompt, PVH / bzImage          $(ms "$(median "$W/pvh" 2)") / $(ms "$(median "$W/bz" 2)")"
target "PVH/bzImage, first output" "$(ratio "$pvh" "$bz")" le 0.55
if [ -n "$arm" ]; then
	a=$(median "$W/arm" 1)
	echo "  first output, arm64 guest ($(basename "$(readlink -f "$KERNEL_ARM64")"), qemu-system-aarch64)  $(ms "$a") (arm64/x86 PVH $(ratio "$a" "$pvh"))"
else
	echo "  (no arm64 kernel, qemu-system-aarch64 or arm64 init: the arm64 guest is skipped)"
fi
echo "  first run (extracts the vmlinux, builds the base), median of 3: $(ms "$(median "$W/cold" 1)")"
echo "  first output with the base rebuilt (vmlinux cached), median of 3: $(ms "$(median "$W/coldbase" 1)")"
base=$(ls "$KTSTR_CACHE_DIR"/initramfs-* | head -n 1)
size=$(wc -c < "$base")
echo "  base initramfs                      $((size / 1024)) KiB, uncompressed"
host=$(ls /boot/initrd.img-* 2> /dev/null | head -n 1 || true)
if [ -n "$host" ]; then
	hsize=$(wc -c < "$host")
	echo "  host initrd $(basename "$host")  $((hsize / 1024)) KiB (ktpack/host $(ratio "$size" "$hsize"))"
else
	echo "  (no /boot/initrd.img-* on this host: the size ratio is skipped)"
fi
rm -rf "$W"
exit $bench_fail
