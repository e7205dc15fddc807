#!/bin/sh
# make bench, extraction: start-up cost of `ktpack env` with a 64 MiB blob,
# warm (published file reused) and cold (empty cache), against the naive
# extractor (a new mkstemp file on every start) and cp of the same bytes.
#
# A cold ktpack run fsyncs what it publishes (a crash must never leave a
# complete-looking file of zeros under a name that later runs trust); cp
# does not.  So cold is compared with cp on tmpfs, where fsync costs
# nothing and the ratio is ktpack's own overhead, and on the disk with
# "cp + fsync", the same durability.
#   bench/extract.sh KTPACK NAIVE BLOB DISK_WORKDIR [TMPFS_WORKDIR]
set -eu
. "$(dirname "$0")/lib.sh"
KTPACK=$1 NAIVE=$2 BLOB=$3
RUNS=${BENCH_RUNS:-15}
unset KTSTR_WPROF_PATH KTSTR_BUSYBOX_PATH

# run_in DIR: sets warm cold naive cp cpsync (ns) for a work folder DIR.
run_in() {
	W=$1
	mkdir -p "$W"
	export KTSTR_CACHE_DIR="$W/cache"
	rm -rf "$KTSTR_CACHE_DIR"
	"$KTPACK" env > /dev/null	# warm the cache
	warm=$(median_ns "$RUNS" true "$KTPACK env")
	cold=$(median_ns "$RUNS" "rm -rf $KTSTR_CACHE_DIR" "$KTPACK env")
	naive=$(median_ns "$RUNS" "sh -c 'rm -rf $W/naive; mkdir $W/naive'" "$NAIVE $W/naive")
	cp=$(median_ns "$RUNS" "rm -f $W/cp" "cp $BLOB $W/cp")
	# sh's start-up (about 1 ms) is inside this figure: small next to
	# the copy, and it only flatters ktpack by that much.
	cpsync=$(median_ns "$RUNS" "rm -f $W/cp" "sh -c 'cp $BLOB $W/cp && sync $W/cp'")
	rm -rf "$W/naive" "$W/cp" "$KTSTR_CACHE_DIR"
	echo "extraction, $(($(wc -c < "$BLOB") >> 20)) MiB blob, median of $RUNS runs, in $W ($(df --output=fstype "$W" | tail -n 1)):"
	echo "  ktpack env warm   $(ms "$warm")"
	echo "  ktpack env cold   $(ms "$cold")"
	echo "  naive mkstemp     $(ms "$naive")"
	echo "  cp                $(ms "$cp")"
	echo "  cp + fsync        $(ms "$cpsync")"
}

run_in "$4"
target "warm speed-up over naive (disk)" "$(ratio "$naive" "$warm")" ge 20
target "cold / (cp + fsync) (disk)" "$(ratio "$cold" "$cpsync")" le 1.5
echo "  (cold / cp without fsync, disk: $(ratio "$cold" "$cp"))"

tmpfs=${5:-}
if [ -n "$tmpfs" ] && mkdir -p "$tmpfs" && mount -t tmpfs -o mode=0700 tmpfs "$tmpfs" 2>/dev/null; then
	trap 'umount "$tmpfs"' EXIT
	run_in "$tmpfs/w"
	target "warm speed-up over naive (tmpfs)" "$(ratio "$naive" "$warm")" ge 20
	target "cold / cp (tmpfs)" "$(ratio "$cold" "$cp")" le 1.5
else
	echo "  (no tmpfs could be mounted: the tmpfs figures are skipped)"
fi
exit $bench_fail
