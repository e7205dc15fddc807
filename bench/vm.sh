#!/bin/sh
# make bench, boot: time from `ktpack run` to the guest command's first
# output and to the host prompt, under TCG, with the base initramfs cached
# (warm) and not (cold); and the size of that initramfs against the host's
# own Debian initrd.
#   bench/vm.sh KTPACK KERNEL WORKDIR
set -eu
. "$(dirname "$0")/lib.sh"
KTPACK=$1 KERNEL=$2 W=$3
RUNS=${BENCH_VM_RUNS:-3}
if [ ! -r "$KERNEL" ]; then
	echo "boot: no kernel at $KERNEL ('make deps' unpacks one): skipped"
	exit 0
fi
rm -rf "$W"
mkdir -p "$W"
export KTSTR_CACHE_DIR="$W/cache"
"$KTPACK" env > /dev/null	# the blobs themselves stay installed

# one_run: appends "first_ns total_ns" for one boot to $W/times
one_run() {
	t0=$(date +%s%N)
	"$KTPACK" run --accel tcg --kernel "$KERNEL" -- /bin/busybox echo FIRST-OUTPUT 2> /dev/null |
		while IFS= read -r l; do
			case $l in FIRST-OUTPUT*) date +%s%N > "$W/first" ;; esac
		done
	t2=$(date +%s%N)
	echo "$(($(cat "$W/first") - t0)) $((t2 - t0))" >> "$W/times"
}
median_col() { sort -n -k"$1" "$W/times" | sed -n "$(((RUNS + 1) / 2))p" | cut -d" " -f"$1"; }

: > "$W/times"
i=0
while [ $i -lt "$RUNS" ]; do
	rm -f "$KTSTR_CACHE_DIR"/initramfs-*
	one_run
	i=$((i + 1))
done
cold_first=$(median_col 1) cold_total=$(median_col 2)
: > "$W/times"
i=0
while [ $i -lt "$RUNS" ]; do
	one_run
	i=$((i + 1))
done
warm_first=$(median_col 1) warm_total=$(median_col 2)

echo "boot of $(basename "$(readlink -f "$KERNEL")") under TCG, median of $RUNS runs:"
echo "  first output, cold cache   $(ms "$cold_first")"
echo "  first output, warm cache   $(ms "$warm_first")   (warm/cold $(ratio "$warm_first" "$cold_first"))"
echo "  host prompt, cold cache    $(ms "$cold_total")"
echo "  host prompt, warm cache    $(ms "$warm_total")   (warm/cold $(ratio "$warm_total" "$cold_total"))"
base=$(ls "$KTSTR_CACHE_DIR"/initramfs-* | head -n 1)
size=$(wc -c < "$base")
echo "  base initramfs             $((size / 1024)) KiB, uncompressed"
host=$(ls /boot/initrd.img-* 2> /dev/null | head -n 1 || true)
if [ -n "$host" ]; then
	hsize=$(wc -c < "$host")
	echo "  host initrd $(basename "$host")  $((hsize / 1024)) KiB (ktpack/host $(ratio "$size" "$hsize"))"
else
	echo "  (no /boot/initrd.img-* on this host: the size ratio is skipped)"
fi
rm -rf "$W"
