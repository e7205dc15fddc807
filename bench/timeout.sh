#!/bin/sh
# make bench, timeout: what --timeout costs at the end of a run, under TCG.
# A wprof-shaped test program writes a 64 MiB trace early in the run; the
# command then either ends by itself (sleep S) or is ended by --timeout
# (sleep 1000).  Both ends are timed from the moment the command ends, or
# the timeout falls, to ktpack's exit: the signal, the trace's way back,
# the status and the power-off.  The two kinds are interleaved ABBA.
#   bench/timeout.sh KTPACK_WITH_FIXTURE KERNEL WORKDIR
set -eu
. "$(dirname "$0")/lib.sh"
KTPACK=$1 KERNEL=$2 W=$3
RUNS=${BENCH_TIMEOUT_RUNS:-3}
MIB=${BENCH_TIMEOUT_MIB:-64}
vm_bench timeout
BYTES=$((MIB << 20))

# run STATUS [ktpack option...] -- CMD...: one run with KTPACK_DEBUG=1,
# which must exit STATUS and bring the whole trace back; prints its wall
# time in ms and its debug timings: "wall prepare fallback boot command end"
run() {
	want=$1
	shift
	st=0
	t0=$(date +%s%N)
	KTPACK_DEBUG=1 "$KTPACK" run --accel tcg --kernel "$KERNEL" --exact-memory 1024 \
		--wprof-args "-d 1 --fixture-size=$BYTES" --trace-out "$W/t.pb" "$@" \
		> /dev/null 2> "$W/err" || st=$?
	t1=$(date +%s%N)
	got=$({ wc -c < "$W/t.pb"; } 2> /dev/null || echo 0)
	if [ "$st" -ne "$want" ] || [ "$got" -ne "$BYTES" ]; then
		echo "bench: the run exited $st (expected $want) with a trace of $got bytes (expected $BYTES):" >&2
		cat "$W/err" >&2
		exit 1
	fi
	rm -f "$W/t.pb"
	tm=$(sed -n 's/.*timings: prepare \([0-9]*\) ms, KVM given up \([0-9]*\) ms, boot \([0-9]*\) ms, command \([0-9]*\) ms, end \([0-9]*\) ms.*/\1 \2 \3 \4 \5/p' "$W/err")
	if [ -z "$tm" ]; then
		echo "bench: no timings line in ktpack's KTPACK_DEBUG=1 output" >&2
		exit 1
	fi
	echo "$(((t1 - t0) / 1000000)) $tm"
}

# The first run caches the vmlinux and the base, and measures the boot.
# The timeout counts from QEMU's start: it must fall once the trace is
# whole (the program takes about 2 s for 64 MiB under TCG), also after a
# boot twice as slow (the machine is shared); the normal run's command
# lasts about as long.
r=$(run 0 -- /bin/sleep 1)
set -- $r
boot_s=$((($4 + 999) / 1000))
TO=$((2 * boot_s + 6))
SLEEP=$((TO - boot_s))

# normal: from the command's end (init up + its time) to ktpack's exit
normal() {
	r=$(run 0 -- /bin/sleep "$SLEEP")
	set -- $r
	echo "$(($1 - $2 - $3 - $4 - $5)) $6"
}
# timed_out: from the timeout (QEMU's start + TO) to ktpack's exit
timed_out() {
	r=$(run 124 --timeout "$TO" -- /bin/sleep 1000)
	set -- $r
	echo "$(($1 - $2 - $3 - TO * 1000)) $6"
}
: > "$W/n"
: > "$W/t"
i=0
while [ $i -lt "$RUNS" ]; do
	if [ $((i % 2)) -eq 0 ]; then
		normal >> "$W/n"
		timed_out >> "$W/t"
	else
		timed_out >> "$W/t"
		normal >> "$W/n"
	fi
	i=$((i + 1))
done
n=$(median "$W/n" 1) t=$(median "$W/t" 1)
echo "timeout under TCG ($(basename "$(readlink -f "$KERNEL")"), a $MIB MiB trace, median of $RUNS runs each):"
echo "  command's own end (sleep $SLEEP) to ktpack's exit  $n ms (end phase $(median "$W/n" 2) ms)"
echo "  --timeout $TO (sleep 1000) to ktpack's exit       $t ms (end phase $(median "$W/t" 2) ms)"
target "timeout end / normal end" "$(ratio "$t" "$n")" le 1.2
rm -rf "$W"
exit $bench_fail
