#!/bin/sh
# make bench, channel: the guest channel under TCG, in the same run.
#  - trace throughput: a wprof-shaped test program writes a trace of random
#    bytes, brought back over virtio-serial and over the serial fallback;
#    each rate is the extra time of a big trace over a 64 KiB one.  The
#    serial port moves a few hundred KB/s, so its trace is smaller
#    (BENCH_SERIAL_MIB, default 8): a rate does not depend on the size.
#  - boot to the command's first output with the virtio channel (its
#    modules loaded) against --channel serial.
#   bench/channel.sh KTPACK_WITH_FIXTURE KERNEL WORKDIR
set -eu
. "$(dirname "$0")/lib.sh"
KTPACK=$1 KERNEL=$2 W=$3
RUNS=${BENCH_CHANNEL_RUNS:-15}
VIRTIO_MIB=${BENCH_VIRTIO_MIB:-64}
SERIAL_MIB=${BENCH_SERIAL_MIB:-8}
vm_bench channel

# run_ns CHANNEL BYTES: the wall time of one run that brings back a trace
# of BYTES, in ns
run_ns() {
	t0=$(date +%s%N)
	"$KTPACK" run --accel tcg --kernel "$KERNEL" --channel "$1" --exact-memory 1024 \
		--wprof-args "-d 1 --fixture-size=$2" --trace-out "$W/t.pb" -- /bin/true 2> "$W/err" ||
		{ cat "$W/err" >&2; exit 1; }
	t1=$(date +%s%N)
	test "$(wc -c < "$W/t.pb")" -eq "$2"
	echo $((t1 - t0))
}
# rate CHANNEL MIB: MB/s of the extra time a MIB trace takes over 64 KiB
rate() {
	for i in 1 2 3; do run_ns "$1" $(($2 << 20)); done > "$W/big"
	for i in 1 2 3; do run_ns "$1" 65536; done > "$W/small"
	big=$(median "$W/big" 1) small=$(median "$W/small" 1)
	awk -v b="$big" -v s="$small" -v m="$2" 'BEGIN { printf "%.2f", (m * 1.048576) / ((b - s) / 1e9) }'
}
run_ns virtio 65536 > /dev/null		# the vmlinux and the base, cached
vr=$(rate virtio "$VIRTIO_MIB")
sr=$(rate serial "$SERIAL_MIB")
echo "channel under TCG ($(basename "$(readlink -f "$KERNEL")")):"
echo "  trace over virtio-serial   $vr MB/s ($VIRTIO_MIB MiB of random bytes, median of 3)"
echo "  trace over the serial port $sr MB/s ($SERIAL_MIB MiB, median of 3)"
target "virtio/serial trace throughput" "$(ratio "$vr" "$sr")" ge 20

: > "$W/v"
: > "$W/s"
i=0
# ABBA: neither kind always runs right after the other
while [ $i -lt "$RUNS" ]; do
	if [ $((i % 2)) -eq 0 ]; then
		first_output "$KTPACK" "$KERNEL" "$W" --channel virtio >> "$W/v"
		first_output "$KTPACK" "$KERNEL" "$W" --channel serial >> "$W/s"
	else
		first_output "$KTPACK" "$KERNEL" "$W" --channel serial >> "$W/s"
		first_output "$KTPACK" "$KERNEL" "$W" --channel virtio >> "$W/v"
	fi
	i=$((i + 1))
done
v=$(median "$W/v" 1) s=$(median "$W/s" 1)
echo "  first output, virtio (modules loaded)  $(ms "$v")"
echo "  first output, --channel serial         $(ms "$s")"
target "virtio/serial boot to first output" "$(ratio "$v" "$s")" le 1.1
rm -rf "$W"
exit $bench_fail
