#!/bin/sh
# make bench, archive: `ktpack initramfs` for busybox + the wprof-shaped
# fixture + their closure, uncompressed, against GNU cpio packing the same
# files (`find . | cpio -o -H newc` over the unpacked tree).  ktpack's time
# includes resolving the closure; cpio's does not.
#   bench/initramfs.sh KTPACK WORKDIR
set -eu
. "$(dirname "$0")/lib.sh"
KTPACK=$1 W=$2
RUNS=${BENCH_RUNS:-15}
rm -rf "$W"
mkdir -p "$W/root"
printf '#!/bin/busybox sh\n' > "$W/init.sh"
"$KTPACK" initramfs -o "$W/ref.cpio" --init "$W/init.sh"
(cd "$W/root" && cpio -id --quiet < "$W/ref.cpio")
files=$(cd "$W/root" && find . | wc -l)
size=$(du -sm "$W/ref.cpio" | cut -f1)

kt=$(median_ns "$RUNS" true "$KTPACK initramfs -o $W/kt.cpio --init $W/init.sh")
cp=$(median_ns "$RUNS" true "sh -c 'cd $W/root && find . | cpio -o -H newc --quiet > $W/gnu.cpio'")
echo "archive of busybox + fixture + closure ($files entries, $size MiB), median of $RUNS runs:"
echo "  ktpack initramfs           $(ms "$kt")"
echo "  find | cpio -o -H newc     $(ms "$cp")"
target "ktpack time / cpio time" "$(ratio "$kt" "$cp")" le 1.2
rm -rf "$W"
exit $bench_fail
