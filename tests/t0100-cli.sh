#!/bin/sh
# The CLI of out/ktpack: blobs, env, exec, cmdline, memory, usage errors.
. "$(dirname "$0")/lib.sh"
TOP=$(pwd)

test_expect_success 'blobs lists busybox with its size and sha256' '
	"$KTPACK" blobs > out
	size=$(wc -c < /bin/busybox | tr -d " ")
	sha=$(sha256sum /bin/busybox | cut -d" " -f1)
	grep -E "^busybox +$(uname -m) +$size +$sha +KTSTR_BUSYBOX_PATH\$" out
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
b = {x[\"name\"]: x for x in json.load(open(\"out\")) if x[\"arch\"] == \"$(uname -m)\"}
assert b[\"busybox\"][\"sha256\"] == \"$sha\", b
assert b[\"busybox\"][\"embedded\"] is True
assert b[\"wprof\"][\"embedded\"] is False and b[\"wprof\"][\"sha256\"] is None
assert b[\"wprof\"][\"make_var\"] == \"WPROF\"
"
'

test_expect_success 'blobs with the fixture embedded shows its digest' '
	"$KTPACK_FIX" blobs > out
	sha=$(sha256sum "$FIXTURE" | cut -d" " -f1)
	grep -E "^wprof +$(uname -m) +[0-9]+ +$sha +KTSTR_WPROF_PATH\$" out
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
	printf "console=ttyS0 panic=-1 rdinit=/init quiet edd=off acpi=noirq KTSTR_WPROF_ARGS=-d\037500\037-e\037sched\037--ringbuf-size=256000\037--ringbuf-cnt=8 KTPACK_WPROF_GRACE_MS=30000\n" > want
	cmp want out
'

test_expect_success 'cmdline --wprof-args splits on whitespace' '
	"$KTPACK_FIX" cmdline --wprof-args "  -d 100	-e sched " > out
	printf "console=ttyS0 panic=-1 rdinit=/init quiet edd=off acpi=noirq KTSTR_WPROF_ARGS=-d\037100\037-e\037sched KTPACK_WPROF_GRACE_MS=30000\n" > want
	cmp want out
'

test_expect_success 'cmdline without --wprof has no wprof token' '
	"$KTPACK_FIX" cmdline > out
	echo "console=ttyS0 panic=-1 rdinit=/init quiet edd=off acpi=noirq" > want
	cmp want out
'

test_expect_success 'cmdline --arch aarch64: the arm64 guest'"'"'s console and base' '
	"$KTPACK_FIX" cmdline --arch arm64 --wprof-args "-d 1" > out
	printf "console=ttyAMA0 panic=-1 rdinit=/init quiet KTSTR_WPROF_ARGS=-d\0371 KTPACK_WPROF_GRACE_MS=30000\n" > want
	cmp want out
	"$KTPACK_FIX" cmdline --arch x86_64 > out
	echo "console=ttyS0 panic=-1 rdinit=/init quiet edd=off acpi=noirq" > want
	cmp want out
	expect_exit 2 "$KTPACK_FIX" cmdline --arch mips 2> err
	expect_grep "^ktpack cmdline: invalid --arch .mips.: expected x86_64 or aarch64 (arm64)" err
'

test_expect_success 'blobs says each slot'"'"'s architecture; the arm64 ones are the guest'"'"'s only' '
	"$KTPACK_FIX" blobs > out
	expect_grep "^wprof  *$(uname -m)  *[1-9]" out
	expect_grep "^busybox  *$(uname -m)  *[1-9][0-9]* .* KTSTR_BUSYBOX_PATH\$" out
	if grep -q "^init  *aarch64  *[1-9]" out; then
		expect_grep "^busybox  *aarch64 .*(guest only)" out
		expect_grep "^wprof  *aarch64  *[1-9][0-9]* .*(guest only)\$" out
		expect_grep "^wprof_libs  *aarch64  *[1-9][0-9]* .*(guest only)\$" out
	fi
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
	expect_grep "^ktpack: warning: the exact memory of 300 MiB is below the 2048 MiB" err
	test "$("$KTPACK_FIX" memory --cpus 2 --wprof --exact-memory 300 2> /dev/null)" = 300
'

test_expect_success 'memory without --cpus is a usage error; --topology gives the run'"'"'s figure' '
	expect_exit 2 "$KTPACK" memory 2> err
	expect_grep "^ktpack memory: --cpus or --topology is required" err
	# 3 nodes: the memory splits evenly, as kt_run gives it
	test "$("$KTPACK" memory --topology 3n)" -eq 258
	test "$("$KTPACK" memory --topology 2n4l4c2t)" -eq 4096
	expect_exit 2 "$KTPACK" memory --cpus 4 --topology 2n 2> err
	expect_grep "disagree" err
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

test_expect_success 'memory sizes take K, M, G and T; the old --override stays' '
	test "$("$KTPACK" memory --cpus 2 --memory 2G)" = 2048
	test "$("$KTPACK" memory --cpus 2 -m 3000M)" = 3000
	test "$("$KTPACK" memory --cpus 2 -m 1gib)" = 1024
	test "$("$KTPACK" memory --cpus 2 --exact-memory 1536K)" = 2
	test "$("$KTPACK" memory --cpus 2 --override 700)" = 700
	expect_exit 2 "$KTPACK" memory --cpus 2 --memory 2X 2> err
	expect_grep "invalid --memory .2X.: expected MiB, or a size with K, M, G or T" err
	expect_exit 2 "$KTPACK" memory --cpus 2 --memory 0 2> err
	expect_exit 2 "$KTPACK" memory --cpus 2 --memory 99999999999T 2> err
'

test_expect_success '--collect-max takes bytes, or K, M, G and T' '
	for s in 0 1Q -5 ""; do
		expect_exit 2 "$KTPACK" run --collect /x --collect-max "$s" -- true 2> err
		expect_grep "^ktpack run: invalid --collect-max .$s.: expected bytes, or a size with K, M, G or T, above 0" err
	done
	expect_exit 2 "$KTPACK" run --kernel /nonexistent --collect-max 1K -- true 2> err
	expect_grep "^ktpack run: --collect-max needs --collect" err
'

test_expect_success 'cmdline --append adds kernel arguments, checked like the wprof args' '
	"$KTPACK" cmdline --append "loglevel=7  sched_debug" --append "x=1" > out
	echo "console=ttyS0 panic=-1 rdinit=/init quiet edd=off acpi=noirq loglevel=7 sched_debug x=1" > want
	cmp want out
	expect_exit 2 "$KTPACK" cmdline --append "a=\"b c\"" 2> err
	expect_grep "^ktpack cmdline: invalid --append .a=\"b c\".: word 1 .a=\"b. holds a quote " err
	expect_exit 2 "$KTPACK" run --kernel /nonexistent --append "x a\\b" -- true 2> err
	expect_grep "^ktpack run: invalid --append .x a.b.: word 2 .a.b. holds a backslash " err
'

test_expect_success 'version and help take no extra arguments; an empty --qemu is a usage error' '
	expect_exit 2 "$KTPACK" version extra 2> err
	expect_grep "^ktpack version: unexpected argument .extra.\$" err
	expect_exit 2 "$KTPACK" -V extra 2> err
	expect_exit 2 "$KTPACK" help ldd extra 2> err
	expect_grep "^ktpack help: unexpected argument .extra.\$" err
	"$KTPACK" help help > out
	expect_grep "^usage: ktpack " out
	expect_exit 2 "$KTPACK" --help x 2> err
	expect_grep "^ktpack --help: unexpected argument .x.\$" err
	expect_exit 2 "$KTPACK" run --qemu "" --kernel /nonexistent -- true 2> err
	expect_grep "^ktpack run: --qemu: an empty program name " err
'

test_expect_success '-V and version print the version; ldd --json keeps a failing file in the JSON' '
	"$KTPACK" -V > a
	"$KTPACK" version > b
	"$KTPACK" --version > c
	cmp a b
	cmp a c
	expect_grep "^ktpack [0-9][0-9.]*\$" a
	expect_exit 1 "$KTPACK" ldd --json /bin/true /nonexistent > out 2> err
	python3 -c "
import json
d = json.load(open(\"out\"))
assert d[0][\"file\"] == \"/bin/true\" and d[0][\"interpreter\"]
assert d[1][\"file\"] == \"/nonexistent\" and d[1][\"error\"].endswith(\"No such file or directory\"), d
"
'

test_expect_success 'run --qemu, --qemu-opt and --append reach QEMU' '
	cat > fakeqemu <<-\EOF
	#!/bin/sh
	printf "%s\n" "$@" > "$(dirname "$0")/args"
	exit 1
	EOF
	chmod +x fakeqemu
	head -c 4096 /dev/zero > k
	printf "HdrS" | dd of=k bs=1 seek=514 conv=notrunc 2> /dev/null
	printf "\125\252" | dd of=k bs=1 seek=510 conv=notrunc 2> /dev/null
	printf "\017\002" | dd of=k bs=1 seek=518 conv=notrunc 2> /dev/null
	printf "\001" | dd of=k bs=1 seek=497 conv=notrunc 2> /dev/null
	printf "\000\000\000\000\000\010\000\000" | dd of=k bs=1 seek=584 conv=notrunc 2> /dev/null
	expect_exit 125 "$KTPACK" run --kernel k --accel tcg --no-pvh --qemu "$PWD/fakeqemu" \
		--qemu-opt -no-hpet --qemu-opt "-rtc" --qemu-opt base=utc \
		--append "loglevel=7" -- /bin/true 2> err
	tail -n 3 args > tail
	printf -- "-no-hpet\n-rtc\nbase=utc\n" > want
	cmp want tail
	grep -q "^console=ttyS0 .* loglevel=7\$" args
	expect_exit 125 "$KTPACK" run --kernel k --qemu /nonexistent/qemu -- /bin/true 2> err
	expect_grep "QEMU ./nonexistent/qemu.: No such file or directory" err
	expect_exit 125 "$KTPACK" run --kernel k --qemu / -- /bin/true 2> err
	expect_grep "QEMU ./.: Is a directory" err
'

test_expect_success 'a bad --channel or --module is a usage error before anything starts' '
	expect_exit 2 "$KTPACK" run --kernel /nonexistent --channel usb -- /bin/true 2> err
	expect_grep "^ktpack run: invalid --channel .usb.: expected virtio, serial or auto" err
	test "$(wc -l < err)" -eq 1
	expect_exit 2 "$KTPACK" run --kernel /nonexistent --module "" -- /bin/true 2> err
	expect_grep "^ktpack run: invalid --module ..: expected a module name" err
	expect_exit 2 "$KTPACK" run --kernel /nonexistent --module ../x -- /bin/true 2> err
	expect_exit 2 "$KTPACK" run --kernel /nonexistent --module-optional a/b -- /bin/true 2> err
	expect_grep "^ktpack run: invalid --module-optional .a/b.: expected a module name" err
'

test_expect_success 'a --qemu-opt that sizes the guest is refused before anything starts' '
	cat > fakeqemu <<-\EOF
	#!/bin/sh
	touch "$(dirname "$0")/started"
	exit 1
	EOF
	chmod +x fakeqemu
	expect_exit 2 "$KTPACK" run --kernel /nonexistent --qemu "$PWD/fakeqemu" \
		--qemu-opt -rtc --qemu-opt base=utc --qemu-opt -m --qemu-opt 4G -- /bin/true 2> err
	expect_grep "^ktpack run: --qemu-opt -m: the guest.s memory is ktpack.s: use --memory or --exact-memory (see .ktpack run --help.)\$" err
	test "$(wc -l < err)" -eq 1
	expect_exit 2 "$KTPACK" shell --kernel /nonexistent --qemu-opt=--smp --qemu-opt=8 2> err
	expect_grep "^ktpack shell: --qemu-opt --smp: the guest.s CPUs are ktpack.s: use --cpus or --topology " err
	expect_exit 2 "$KTPACK" run --kernel /nonexistent --qemu-opt -numa --qemu-opt node -- /bin/true 2> err
	expect_grep "^ktpack run: --qemu-opt -numa: the guest.s NUMA nodes are ktpack.s: use --topology " err
	expect_exit 2 "$KTPACK" run --kernel /nonexistent --qemu-opt -m=512 -- /bin/true 2> err
	expect_grep "^ktpack run: --qemu-opt -m=512: " err
	test ! -e started
'

test_expect_success 'bash completion: commands, help CMD, -m and flags' '
	cat > c.bash <<-\EOF
	. "$1"
	comp() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _ktpack; printf "%s\n" "${COMPREPLY[@]}" "--"; }
	comp ktpack ver
	comp ktpack help ru
	comp ktpack memory -m 512 --cp
	comp ktpack run --no-pvh --ti
	comp ktpack run --channel ""
	comp ktpack run --console --mod
	comp ktpack run --arch a
	comp ktpack ldd --sys
	comp ktpack doctor --pr
	comp ktpack do
	comp ktpack ke
	comp ktpack kernel --j
	comp ktpack run --req
	comp ktpack run --require-config BPF --no
	EOF
	bash c.bash "$TOP/completion/ktpack.bash" > out
	printf "%s\n" version -- run -- --cpus -- --timeout -- auto virtio serial -- \
		--module --module-optional --modules -- aarch64 -- --sysroot -- --probe -- doctor -- \
		kernel -- --json -- --require-config -- --no-pvh -- > want
	cmp want out
'

test_done
