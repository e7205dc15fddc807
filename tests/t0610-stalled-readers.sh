#!/bin/sh
# ktpack run with readers that stop reading: a trace FIFO, the console on
# a stderr pipe.  No write may hold the run past its --timeout, or past a
# SIGTERM; QEMU goes with it.
. "$(dirname "$0")/lib.sh"
KERNEL=${KTSTR_KERNEL:-/var/cache/ktpack/vmlinuz}
test_shared_cache

# The QEMU that the run PID boots, once it runs (at most 60 s): the child
# with an -initrd (QEMU asked for its facts has none).
qemu_of() {
	i=0
	while [ $i -lt 300 ]; do
		for c in $(cat "/proc/$1/task/$1/children" 2>/dev/null); do
			if tr "\0" "\n" < "/proc/$c/cmdline" 2>/dev/null | grep -qx -- -initrd; then
				echo "$c"
				return 0
			fi
		done
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}
# Waits at most SECS for the background job PID; its exit status goes to
# the file st.  One still running then is killed, and the case fails.
ends_within() { # secs pid
	i=0
	while kill -0 "$2" 2>/dev/null && [ $i -lt $(($1 * 5)) ]; do sleep 0.2; i=$((i + 1)); done
	if kill -0 "$2" 2>/dev/null; then
		kill -KILL "$2"
		wait "$2" || :
		die "still running after $1 s"
		return 1
	fi
	set +e
	wait "$2"
	echo $? > st
	set -e
}
# Waits until FILE has a line matching PATTERN (at most 60 s).
wait_for() { i=0; while ! grep -q "$2" "$1" && [ $i -lt 300 ]; do sleep 0.2; i=$((i + 1)); done; }
# Waits at most 60 s for FILE to hold N bytes.
wait_size() { i=0; while [ "$(wc -c < "$1")" -lt "$2" ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i + 1)); done; }

test_expect_success KERNEL,QEMU 'a trace FIFO that nothing reads: --timeout ends the run and QEMU' '
	mkfifo fifo
	exec 3<> fifo
	"$KTPACK_FIX" run --kernel "$KERNEL" --accel tcg --timeout 10 \
		--wprof-args "-d 1 --fixture-size=4000000" --trace-out fifo -- /bin/busybox true > out 2> err &
	pid=$!
	qemu=$(qemu_of $pid)
	ends_within 40 $pid
	test "$(cat st)" -eq 124
	test ! -e "/proc/$qemu"
	expect_grep "^ktpack: the guest command exited with status 0, but its output and trace were not all written within 10 s: [0-9]* bytes waited for a reader that did not read\$" err
	exec 3>&-
	test -z "$(ls -A "$TMPDIR")"
'

test_expect_success KERNEL,QEMU 'the console on a stderr that nothing reads: --timeout ends the run and QEMU' '
	mkfifo e
	exec 4<> e
	"$KTPACK_FIX" run --kernel "$KERNEL" --accel tcg --timeout 10 --console -- \
		/bin/busybox sh -c "echo ready; yes > /dev/console" > out 2> e &
	pid=$!
	qemu=$(qemu_of $pid)
	ends_within 40 $pid
	test "$(cat st)" -eq 124
	test ! -e "/proc/$qemu"
	expect_grep "^ready" out
	exec 4>&-
	test -z "$(ls -A "$TMPDIR")"
'

test_expect_success KERNEL,QEMU 'a console reader that stalls: the oldest bytes go, said in the stream; SIGTERM ends the run' '
	mkfifo e
	# reads a little once the flood has filled every queue, then stalls
	( wait_for out "^ready"; sleep 8; head -c 300000; exec sleep 1000 ) < e > got &
	reader=$!
	trap "kill \$reader 2> /dev/null" EXIT
	"$KTPACK_FIX" run --kernel "$KERNEL" --accel tcg --timeout 300 --console -- \
		/bin/busybox sh -c "echo ready; yes > /dev/console" > out 2> e &
	pid=$!
	qemu=$(qemu_of $pid)
	wait_size got 300000
	sleep 3
	kill -TERM $pid
	ends_within 15 $pid
	test "$(cat st)" -eq 143
	test ! -e "/proc/$qemu"
	grep -a -q "^\[ktpack: [1-9][0-9]* console bytes dropped\]" got
	grep -a -q "^ktpack: booting " got
	test -z "$(ls -A "$TMPDIR")"
'

test_done
