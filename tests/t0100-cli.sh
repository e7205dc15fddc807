#!/bin/sh
# The CLI of out/ktpack: blobs, env, exec, cmdline, memory, usage errors.
. "$(dirname "$0")/lib.sh"

test_expect_success 'blobs lists busybox with its size and sha256' '
	"$KTPACK" blobs > out
	size=$(wc -c < /bin/busybox | tr -d " ")
	sha=$(sha256sum /bin/busybox | cut -d" " -f1)
	grep -E "^busybox +$size +$sha +KTSTR_BUSYBOX_PATH\$" out
'

test_expect_success 'blobs says not embedded for an empty wprof slot' '
	"$KTPACK" blobs > out
	expect_grep "^wprof .*not embedded.*KTSTR_WPROF_PATH.*make WPROF=" out
'

test_expect_success 'blobs --json describes each blob' '
	"$KTPACK" blobs --json > out
	sha=$(sha256sum /bin/busybox | cut -d" " -f1)
	python3 -c "
import json, sys
b = {x[\"name\"]: x for x in json.load(open(\"out\"))}
assert b[\"busybox\"][\"sha256\"] == \"$sha\", b
assert b[\"busybox\"][\"embedded\"] is True
assert b[\"wprof\"][\"embedded\"] is False and b[\"wprof\"][\"sha256\"] is None
assert b[\"wprof\"][\"make_var\"] == \"WPROF\"
"
'

test_expect_success 'blobs with the fixture embedded shows its digest' '
	"$KTPACK_FIX" blobs > out
	sha=$(sha256sum "$FIXTURE" | cut -d" " -f1)
	grep -E "^wprof +[0-9]+ +$sha +KTSTR_WPROF_PATH\$" out
'

test_expect_success 'env prints export lines a shell can eval' '
	"$KTPACK" env > out
	eval "$(cat out)"
	cmp "$KTSTR_BUSYBOX_PATH" /bin/busybox
	case "$KTSTR_BUSYBOX_PATH" in "$KTSTR_CACHE_DIR"/busybox-*) ;; *) false ;; esac
'

test_expect_success 'env quotes a path that holds a quote' '
	export KTSTR_CACHE_DIR="$TRASH/it'"'"'s"
	"$KTPACK" env > out
	eval "$(cat out)"
	cmp "$KTSTR_BUSYBOX_PATH" /bin/busybox
'

test_expect_success 'exec runs the command with the paths exported' '
	"$KTPACK_FIX" exec -- sh -c "cmp \"\$KTSTR_WPROF_PATH\" \"$FIXTURE\" && cmp \"\$KTSTR_BUSYBOX_PATH\" /bin/busybox"
'

test_expect_success 'exec exits with the command status' '
	expect_exit 7 "$KTPACK" exec -- sh -c "exit 7"
'

test_expect_success 'exec of a missing command exits 127 with one line' '
	expect_exit 127 "$KTPACK" exec -- /nonexistent/cmd 2> err
	expect_grep "^ktpack: cannot run '"'"'/nonexistent/cmd'"'"': No such file or directory\$" err
	test "$(wc -l < err)" -eq 1
'

test_expect_success 'the extracted wprof runs: the fixture records its argv' '
	"$KTPACK_FIX" exec -- sh -c "\"\$KTSTR_WPROF_PATH\" -d 1 hello" > out
	expect_grep "arg\[2\]=31\$" out
	expect_grep "arg\[3\]=68656c6c6f\$" out
'

test_expect_success 'cmdline --wprof carries the default args joined with 0x1F' '
	"$KTPACK_FIX" cmdline --wprof > out
	printf "console=ttyS0 panic=-1 rdinit=/init quiet edd=off KTSTR_WPROF_ARGS=-d\037500\037-e\037sched\037--ringbuf-size=256000\037--ringbuf-cnt=8\n" > want
	cmp want out
'

test_expect_success 'cmdline --wprof-args splits on whitespace' '
	"$KTPACK_FIX" cmdline --wprof-args "  -d 100	-e sched " > out
	printf "console=ttyS0 panic=-1 rdinit=/init quiet edd=off KTSTR_WPROF_ARGS=-d\037100\037-e\037sched\n" > want
	cmp want out
'

test_expect_success 'cmdline without --wprof has no wprof token' '
	"$KTPACK_FIX" cmdline > out
	echo "console=ttyS0 panic=-1 rdinit=/init quiet edd=off" > want
	cmp want out
'

test_expect_success 'cmdline refuses an arg with a quote, naming it' '
	expect_exit 1 "$KTPACK_FIX" cmdline --wprof-args "-d 1 -e sch\"ed" 2> err
	expect_grep "^ktpack: wprof argument 4 .sch\"ed. holds a quote\$" err
'

test_expect_success 'cmdline refuses args over the kernel limit' '
	long=$(head -c 2100 /dev/zero | tr "\0" a)
	expect_exit 1 "$KTPACK_FIX" cmdline --wprof-args "-e $long" 2> err
	expect_grep "over the kernel.s limit of 2047" err
'

test_expect_success 'cmdline --wprof without wprof names the make variable' '
	expect_exit 1 "$KTPACK" cmdline --wprof 2> err
	expect_grep "^ktpack: wprof is not embedded: rebuild with .make WPROF=/path/to/wprof. or set KTSTR_WPROF_PATH\$" err
'

test_expect_success 'a preset KTSTR_WPROF_PATH serves a binary without wprof' '
	KTSTR_WPROF_PATH="$FIXTURE" "$KTPACK" cmdline --wprof > out
	expect_grep "KTSTR_WPROF_ARGS=-d" out
'

test_expect_success 'memory derives max(cpus*64, 256, requested)' '
	test "$("$KTPACK" memory --cpus 1)" = 256
	test "$("$KTPACK" memory --cpus 8)" = 512
	test "$("$KTPACK" memory --cpus 8 --memory 1000)" = 1000
'

test_expect_success 'memory --wprof applies the floor of the default args' '
	test "$("$KTPACK_FIX" memory --cpus 2 --wprof)" = 2048
	test "$("$KTPACK_FIX" memory --cpus 2 --memory 4096 --wprof)" = 4096
'

test_expect_success 'memory --wprof-args computes the floor from those args' '
	test "$("$KTPACK_FIX" memory --cpus 2 --wprof-args "--ringbuf-size=1gb --ringbuf-cnt=3")" = 3072
	# no --ringbuf-cnt: max(4, ceil(40/8)) = 5 buffers of 1 GiB
	test "$("$KTPACK_FIX" memory --cpus 40 --wprof-args "--ringbuf-size 1gb")" = 5120
'

test_expect_success 'memory --override is verbatim and warns below the floor' '
	test "$("$KTPACK_FIX" memory --cpus 2 --wprof --override 300 2> err)" = 300
	expect_grep "^ktpack: warning: --override 300 MiB is below the 2048 MiB" err
'

test_expect_success 'memory without --cpus is a usage error' '
	expect_exit 2 "$KTPACK" memory 2> err
	expect_grep "^ktpack memory: --cpus is required" err
'

test_expect_success 'memory with a bad number is a usage error naming it' '
	expect_exit 2 "$KTPACK" memory --cpus 2x 2> err
	expect_grep "invalid --cpus .2x." err
	expect_exit 2 "$KTPACK" memory --cpus 0 2> err
'

test_expect_success 'every subcommand has --help and it exits 0' '
	for c in blobs env exec cmdline memory; do
		"$KTPACK" $c --help > out
		expect_grep "^usage: ktpack $c" out
	done
	"$KTPACK" --help > out
	expect_grep "^usage: ktpack" out
	"$KTPACK" help run > out
	expect_grep "^usage: ktpack run --kernel" out
	expect_exit 2 "$KTPACK" help frobnicate 2> err
'

test_expect_success '--help does not install anything' '
	"$KTPACK" env --help > out
	test ! -e "$KTSTR_CACHE_DIR"
'

test_expect_success '--version prints the version' '
	"$KTPACK" --version > out
	expect_grep "^ktpack [0-9][0-9.]*\$" out
'

test_expect_success 'unknown commands and options exit 2' '
	expect_exit 2 "$KTPACK" frobnicate 2> err
	expect_grep "unknown command .frobnicate." err
	expect_exit 2 "$KTPACK" blobs --bogus 2> err
	expect_grep "invalid option .--bogus." err
	expect_exit 2 "$KTPACK" 2> err
'

test_done
