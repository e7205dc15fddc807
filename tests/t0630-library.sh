#!/bin/sh
# libktpack as a front end uses it (tests/fixtures/run-lib.c): a stdout
# whose reader goes away never kills the caller, and runs on threads of
# one process, under ThreadSanitizer, keep to their own outputs.
. "$(dirname "$0")/lib.sh"
KERNEL=${KTSTR_KERNEL:-/var/cache/ktpack/vmlinuz}
RUNLIB="$KT_OUT/tests/run-lib"
test_shared_cache

test_expect_success KERNEL,QEMU 'a front end whose stdout reader goes away lives on: kt_run says why, 141' '
	{ "$RUNLIB" pipe "$KERNEL" 2> err && echo 0 > rc || echo $? > rc; } | head -c 1 > one
	test "$(cat one)" = y
	test "$(cat rc)" -eq 141
	expect_grep "^run-lib: cannot write the command.s standard output: Broken pipe\$" err
	expect_grep "^run-lib: alive, end stopped, exit status 141\$" err
'

test_expect_success KERNEL,QEMU 'ktpack run | head -c1: the run stops with its reason, 141' '
	{ "$KTPACK_FIX" run --kernel "$KERNEL" --timeout 300 -- /bin/busybox yes 2> err &&
		echo 0 > rc || echo $? > rc; } | head -c 1 > one
	test "$(cat one)" = y
	test "$(cat rc)" -eq 141
	expect_grep "^ktpack: cannot write the command.s standard output: Broken pipe\$" err
	test "$(grep -c "^ktpack: " err | tr -d " ")" -le 3
'

test_expect_success KERNEL,QEMU 'four runs on four threads under ThreadSanitizer: each its status, output and trace' '
	set +e
	TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$RUNLIB-tsan" threads "$KERNEL" "$FIXTURE" 4 \
		> out 2> err
	echo $? > rc
	set -e
	cat out
	not grep -q ThreadSanitizer err
	test "$(cat rc)" -eq 0
	for i in 1 2 3 4; do
		expect_grep "^run $i: r 0, status $i, trace trace-$i.pb\$" out
		test "$(cat out-$i)" = "run $i"
		test -s trace-$i.pb
	done
	expect_grep "^4 of 4 runs as expected\$" out
'

test_done
