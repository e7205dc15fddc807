#!/bin/sh
# ktpack run / shell: real boots of the Debian kernel that `make deps`
# unpacks (KTSTR_KERNEL overrides), under KVM when it works, TCG otherwise.
. "$(dirname "$0")/lib.sh"
KERNEL=${KTSTR_KERNEL:-/var/cache/ktpack/vmlinuz}
FIXTURES="$(cd "$(dirname "$0")" && pwd)/fixtures"
test_shared_cache

vmrun() { "$KTPACK_FIX" run --kernel "$KERNEL" --timeout 300 "$@"; }
hexof() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n'; }
MODTREE="$(dirname "$(readlink -f "$KERNEL")")/lib/modules"
test_lazy_prereq MODULES 'test -s "$(ls -d "$MODTREE"/*/ | head -n 1)modules.dep"'
test_lazy_prereq PYTHON 'command -v python3'
test_lazy_prereq BPFTOOL 'test -x /usr/sbin/bpftool'
# Waits until FILE has a line matching PATTERN (at most 5 minutes).
wait_for() { i=0; while ! grep -q "$2" "$1" && [ $i -lt 600 ]; do sleep 0.5; i=$((i + 1)); done; }
# The args the fixture printed, one hex string per line, argv[0] left out.
guest_args() { sed -n 's/^wprof-fixture: arg\[[1-9][0-9]*\]=\([0-9a-f]*\).*/\1/p' "$1"; }
# The hex lines the fixture prints for these args.
want_args() { for a in "$@"; do hexof "$a"; echo; done; }

test_expect_success KERNEL,QEMU 'stdout and stderr come back byte for byte, apart, without a CR' '
	private_cache
	vmrun -- /bin/busybox sh -c "echo out; echo err >&2; printf \"a\\0b\\r\\n\"" > out 2> err
	printf "out\na\0b\r\n" > want
	cmp want out
	expect_grep "^err\$" err
	expect_grep "booting $KERNEL: x86_64, 2 CPUs, 256 MiB, \(KVM\|TCG\), vmlinux through PVH\( (not KVM: .*)\)\?\$" err
	not grep -q "ktpack-init" err
	# the padding of init before its last frames is no corrupt frame
	not grep -q "corrupt frames" err
	if grep -q "falling back to TCG\|its probe failed" err; then
		# what made auto fall back makes an explicit --accel kvm fail
		expect_exit 125 "$KTPACK_FIX" run --kernel "$KERNEL" --accel kvm -- /bin/true 2> err2
		expect_grep "^ktpack: KVM does not work here: " err2
	fi
	vmrun -- /bin/busybox cat /bin/busybox > got
	test "$(sha256sum < got)" = "$(sha256sum < /bin/busybox)"
	test "$(ls "$KTSTR_CACHE_DIR" | grep -c "^initramfs-")" -eq 1
'

test_expect_success KERNEL,QEMU,BPFTOOL 'bpftool -j prog list prints JSON a parser reads' '
	vmrun --include /usr/sbin/bpftool:/bin/bpftool -- /bin/bpftool -j prog list > out 2> err
	python3 -c "import json, sys; v = json.load(open(\"out\")); assert isinstance(v, list)"
'

test_expect_success KERNEL,QEMU 'stdin reaches the command, its end included' '
	printf "b\na\nc\n" | vmrun -- /bin/busybox sort > out
	printf "a\nb\nc\n" > want
	cmp want out
	head -c 5000000 /dev/urandom > big
	vmrun -- /bin/busybox sha256sum < big > out
	test "$(cut -d" " -f1 out)" = "$(sha256sum < big | cut -d" " -f1)"
	# a command that reads none of it still ends; the timeout is the
	# command alone, as timeout(1)s: a boot longer than it spends none
	vmrun --timeout 1 -- /bin/busybox true < big 2> err
	not grep -q "did not reach\|did not finish" err
	vmrun -- /bin/busybox wc -c < /dev/null > out
	test "$(cat out)" -eq 0
	# a closed stdin is an empty one, not the next file ktpack opens
	vmrun -- /bin/busybox wc -c <&- > out
	test "$(cat out)" -eq 0
	# stdout and stderr to one file keep the order the command wrote them
	vmrun -- /bin/busybox sh -c "for i in 1 2 3 4 5; do echo o\$i; echo e\$i >&2; done" > both 2>&1
	printf "o1\ne1\no2\ne2\no3\ne3\no4\ne4\no5\ne5\n" > want
	grep -v "^ktpack: " both > got
	cmp want got
'

test_expect_success KERNEL,QEMU 'exit statuses as timeout(1): the command'"'"'s, 128+N, 126, 127' '
	private_cache
	# a command that exits 127 by itself is no command ktpack could not run
	expect_exit 127 vmrun --accel tcg -- /bin/busybox sh -c "exit 127" 2> err
	not grep -q "could not run\|cannot run" err
	expect_exit 137 vmrun -- /bin/busybox sh -c "kill -9 \$\$"
	# said once, by ktpack; not run again under wprof
	expect_exit 127 vmrun --repro -- /nonexistent/cmd 2> err
	expect_grep "^ktpack: the guest could not run ./nonexistent/cmd.: No such file or directory\$" err
	test "$(grep -c "run ./nonexistent/cmd." err)" -eq 1
	expect_grep "^ktpack: --repro: a command the guest could not run is not run again\$" err
	# in that order: why, then what --repro did
	why=$(grep -n "^ktpack: the guest could not run" err | cut -d: -f1)
	what=$(grep -n "^ktpack: --repro:" err | cut -d: -f1)
	test "$why" -lt "$what"
	not grep -q "running the command again" err
	# the boot has a bound of its own, not the command s timeout
	expect_exit 125 vmrun --accel tcg --boot-timeout 1 -- /bin/true 2> err
	expect_grep "^ktpack: the guest \(did not reach /init\|.s init did not open its channel\) within 1 s" err
	# a script that is there, whose interpreter is not
	printf "#!/nonexistent/sh\necho no\n" > s.sh
	chmod +x s.sh
	expect_exit 127 vmrun --include "$PWD/s.sh:/s.sh" -- /s.sh 2> err
	expect_grep "^ktpack: the guest could not run ./s.sh.: its #! interpreter or its ELF loader is missing\$" err
	# a command that exits at once: its output must not be dropped
	echo x > extra
	vmrun --accel tcg --include "$PWD/extra:/extra" -- /bin/busybox cat /extra > out
	test "$(cat out)" = x
	# the includes belong to the run: the base is that of the runs above
	test "$(ls "$KTSTR_CACHE_DIR" | grep -c "^initramfs-")" -eq 1
	vmrun --accel tcg --cache-includes --include "$PWD/extra:/extra" -- /bin/busybox uname -s > out
	test "$(cat out)" = Linux
	test "$(ls "$KTSTR_CACHE_DIR" | grep -c "^initramfs-")" -eq 2
	# the word travels as the status does, on the serial port too (a
	# base of its own: last)
	expect_exit 126 vmrun --channel serial -- /etc/passwd 2> err
	expect_grep "^ktpack: the guest could not run ./etc/passwd.: Permission denied\$" err
	test "$(grep -c "run ./etc/passwd." err)" -eq 1
'

test_expect_success KERNEL,QEMU,MODULES 'an include whose closure links /lib where the base has /lib/modules runs' '
	# this host: /lib -> usr/lib; the base (no wprof libraries): /lib/modules
	KTPACK_DEBUG=1 "$KTPACK" run --kernel "$KERNEL" --include /usr/bin/env:/bin/e -- /bin/e echo ran > out 2> err
	test "$(cat out)" = ran
	if test -L /lib; then
		expect_grep "the includes cannot go after the cached base (guest path ./lib. is given twice, with different contents): this run packs them into a base of its own" err
	fi
'

test_expect_success KERNEL,QEMU,PYTHON 'a slow reader of stdout gets every byte, the status and the trace' '
	cat > slow.py <<-\EOF
	import os, sys, time
	time.sleep(5)
	n = 0
	while True:
	    d = os.read(0, 4096)
	    if not d:
	        break
	    n += len(d)
	    time.sleep(0.001)
	print(n)
	EOF
	{ set +e; "$KTPACK_FIX" run --kernel "$KERNEL" --timeout 300 --wprof-args "-d 1 --fixture-size=1000000" \
		--trace-out t.pb -- /bin/busybox sh -c "head -c 2000000 /dev/zero; exit 5" 2> err
	  echo $? > st; } | python3 slow.py > n
	test "$(cat n)" -eq 2000000
	test "$(cat st)" -eq 5
	test "$(wc -c < t.pb)" -eq 1000000
'

test_expect_success KERNEL,QEMU 'at --timeout the command is ended, not the VM: its output, status and trace come back' '
	mkfifo f
	exec 3<> f
	expect_exit 124 "$KTPACK" run --kernel "$KERNEL" --timeout 15 -- /bin/busybox yes > f 2> err
	exec 3>&-
	expect_grep "did not finish within 15 s" err
	# TERM, as timeout(1): the command prints and ends; wprof is stopped
	# and its trace comes back whole
	start=$(date +%s)
	expect_exit 124 vmrun --timeout 10 --wprof --trace-out t.pb -- /bin/busybox sh -c \
		"trap \"echo got-term; exit 7\" TERM; echo ready; while :; do sleep 1; done" > out 2> err
	test $(($(date +%s) - start)) -lt 120
	printf "ready\ngot-term\n" > want
	cmp want out
	expect_grep "^ktpack: the guest command did not finish within 10 s: sent it TERM (SIGKILL in 10 s)\$" err
	expect_grep "^ktpack: the guest command did not finish within 10 s: it got TERM and exited with status 7\$" err
	expect_grep "^ktpack: wrote the wprof trace to .t.pb. (65536 bytes)\$" err
	test "$(wc -c < t.pb)" -eq 65536
	# a command that ignores it: SIGKILL after --kill-after, 137 as timeout(1) says
	expect_exit 137 vmrun --timeout 8 --kill-after 2 --signal INT -- /bin/busybox sh -c \
		"trap \"\" INT; while :; do sleep 1; done" > out 2> err
	expect_grep "^ktpack: the guest command did not finish within 8 s: it got INT, then SIGKILL, and exited with status 137\$" err
	expect_exit 2 "$KTPACK" run --signal USR1 -- /bin/true 2> err
	expect_grep "invalid --signal .USR1.: expected TERM, INT, QUIT, HUP or KILL" err
	test -z "$(ls "$TMPDIR")"
'

test_expect_success KERNEL,QEMU '--collect: a folder and a file come back after the timeout, no link followed on either side' '
	mkdir res elsewhere res/d
	# a link planted in the out folder leads nowhere the guest may write
	ln -s ../elsewhere res/d/sub
	expect_exit 124 vmrun --timeout 10 --collect /tmp/d --collect /tmp/one --out-dir res -- \
		/bin/busybox sh -c "mkdir -p /tmp/d/sub /tmp/d/new; echo a > /tmp/d/f; echo bb > /tmp/d/sub/g; \
		echo ccc > /tmp/d/new/h; chmod 4751 /tmp/d/f; ln -s /etc/passwd /tmp/d/link; \
		mkfifo /tmp/d/fifo; echo one > /tmp/one; mkdir -p /ktpack; echo /etc >> /ktpack/collect; \
		echo ready; exec sleep 1000" > out 2> err
	expect_grep "^ready\$" out
	expect_grep "^ktpack: collected 3 files (10 bytes) into .res., 1 refused\$" err
	# the list the command rewrote is not read: no /etc comes back
	test ! -e res/etc
	expect_grep "^ktpack: warning: collect: .d/sub/g. refused: cannot write it under .res.: " err
	echo a > want && cmp want res/d/f
	echo ccc > want && cmp want res/d/new/h
	echo one > want && cmp want res/one
	test -z "$(ls elsewhere)"
	test -h res/d/sub
	# the guest mode less set-id bits and the umask
	test "$(stat -c %a res/d/f)" = "$(printf "%o" $((0751 & ~$(umask))))"
	test ! -e res/d/link && test ! -e res/d/fifo
	test -z "$(find res -name ".ktpack-*")"
	# a sparse file over --collect-max: refused by name, none of its
	# bytes sent; the run ends with the command, its status the commands;
	# a name the host refuses costs nothing of the cap
	mkdir res2
	t0=$(date +%s)
	expect_exit 3 vmrun --timeout 30 --kill-after 1 --collect /tmp/b --collect /tmp/c \
		--collect-max 150 --out-dir res2 -- \
		/bin/busybox sh -c "mkdir /tmp/b /tmp/c; busybox head -c 100 /dev/zero > /tmp/b/\$(printf \"a\\tb\"); \
		echo a > /tmp/c/a; busybox head -c 100 /dev/zero > /tmp/c/y; \
		busybox truncate -s 100G /tmp/c/x; echo b > /tmp/c/z; exit 3" > out 2> err
	test $(($(date +%s) - t0)) -lt 30
	expect_grep "^ktpack: collected 3 files (104 bytes) into .res2., 2 refused\$" err
	expect_grep "^ktpack: warning: collect: .c/x. refused: 107374182400 bytes, over the [0-9]* left of --collect-max\$" err
	expect_grep "^ktpack: warning: collect: a file named .b/a?b. refused: " err
	not grep -q "truncated\|did not finish\|still coming" err
	echo a > want && cmp want res2/c/a
	echo b > want && cmp want res2/c/z
	head -c 100 /dev/zero > want && cmp want res2/c/y
	test ! -e res2/c/x
	expect_exit 2 "$KTPACK" run --kernel "$KERNEL" --collect tmp/x -- /bin/true 2> err
	expect_grep "^ktpack: collect .tmp/x.: not an absolute guest path\$" err
	expect_exit 2 "$KTPACK" run --kernel "$KERNEL" --collect /tmp/../etc -- /bin/true 2> err
	expect_grep "^ktpack: collect ./tmp/../etc.: holds a .\.\.. component\$" err
	test "$(wc -l < err)" -eq 1
'

test_expect_success KERNEL,QEMU '--collect: a folder over 16384 files: the rest left in the guest is said on the host' '
	mkdir res
	vmrun --collect /tmp/many --out-dir res -- \
		/bin/busybox sh -c "mkdir /tmp/many && cd /tmp/many && busybox seq 1 16400 | busybox xargs busybox touch" \
		> out 2> err
	expect_grep "^ktpack: collected 16384 files (0 bytes) into .res.\$" err
	expect_grep "^ktpack: warning: guest: collect: stopped after 16384 files, the most the host takes\$" err
	test "$(ls res/many | wc -l)" -eq 16384
'

test_expect_success KERNEL,QEMU 'wprof gets the default args byte for byte; the trace comes back' '
	vmrun --wprof --console --trace-out t.pb -- /bin/busybox echo traced > out 2> err
	test "$(cat out)" = traced
	guest_args err > got
	want_args -d 500 -e sched --ringbuf-size=256000 --ringbuf-cnt=8 -T /tmp/wprof.pb > want
	diff want got
	"$FIXTURE" -d 500 -e sched --ringbuf-size=256000 --ringbuf-cnt=8 -T host.pb > /dev/null
	cmp t.pb host.pb
	expect_grep "^ktpack: wrote the wprof trace to .t.pb. (65536 bytes)\$" err
	vmrun --wprof-args "-d 50 -e sched --x=a,b:c/d%" --console -- /bin/busybox true > out 2> err
	test ! -s out
	guest_args err > got
	want_args -d 50 -e sched --x=a,b:c/d% -T /tmp/wprof.pb > want
	diff want got
	"$FIXTURE" -d 50 -e sched --x=a,b:c/d% -T host.pb > /dev/null
	cmp wprof.pb host.pb
'

test_expect_success KERNEL,QEMU,MODULES 'a 64 MiB trace comes back whole over virtio; serial is the fallback' '
	vmrun --wprof-args "-d 1 --fixture-size=67108864" --trace-out t.pb -- /bin/true 2> err
	"$FIXTURE" -d 1 --fixture-size=67108864 -T host.pb > /dev/null
	cmp t.pb host.pb
	vmrun --channel serial --console --wprof-args "-d 1 --fixture-size=200000" --trace-out s.pb \
		-- /bin/busybox sh -c "ls /dev/vport* 2>&1; echo done" > out 2> err
	"$FIXTURE" -d 1 --fixture-size=200000 -T host.pb > /dev/null
	cmp s.pb host.pb
	expect_grep "No such file" out
	# a trace that fills the guest'"'"'s /tmp is said, not silently cut
	vmrun --wprof-args "-d 1 --fixture-size=300000000" --trace-out big.pb -- /bin/true 2> err
	expect_grep "^ktpack: warning: guest: the guest.s /tmp is full: the trace may be cut short" err
	expect_exit 2 vmrun --channel usb -- /bin/true 2> err
	expect_grep "invalid --channel .usb.: expected virtio, serial or auto" err
'

test_expect_success KERNEL,QEMU 'a wprof that hangs is stopped at its deadline and reported' '
	expect_exit 125 vmrun --wprof-args "-d 100 --fixture-stubborn" --wprof-grace 1 -- /bin/busybox true > out 2> err
	expect_grep "^ktpack: no trace came back from the guest (the command exited with status 0)\$" err
	expect_grep "ktpack-init: wprof did not finish in time: sending SIGTERM" err
	expect_grep "ktpack-init: wprof ignored SIGTERM: sending SIGKILL" err
	expect_grep "ktpack-init: wprof wrote no trace" err
	test ! -e wprof.pb
'

test_expect_success KERNEL,QEMU 'the timeout that falls while wprof finishes says the command status' '
	expect_exit 124 "$KTPACK_FIX" run --kernel "$KERNEL" --timeout 25 --wprof-grace 600 \
		--wprof-args "-d 100 --fixture-stubborn" -- /bin/busybox sh -c "exit 3" > out 2> err
	expect_grep "^ktpack: the timeout (25 s) fell while wprof was still finishing; the command had exited with status 3\$" err
	# init stopped wprof at the host'"'"'s word, not at its own deadline
	expect_grep "ktpack-init: the host.s timeout fell: stopping wprof (SIGTERM)" err
	test ! -e wprof.pb
'

test_expect_success KERNEL,QEMU 'the guest gets the derived memory, with the wprof floor, and room for its archive' '
	vmrun --wprof -- /bin/busybox awk "/MemTotal/ { print \$2 }" /proc/meminfo > out 2> err
	expect_grep "2 CPUs, 2048 MiB" err
	kb=$(cat out)
	test "$kb" -gt $((2048 * 1024 * 85 / 100))
	test "$kb" -le $((2048 * 1024))
	vmrun --cpus 8 -- /bin/busybox awk "/MemTotal/ { print \$2 }" /proc/meminfo > out 2> err
	expect_grep "8 CPUs, 512 MiB" err
	# 150 MB to unpack: the default memory grows to hold it
	head -c 150000000 /dev/urandom > big
	vmrun --include "$PWD/big:/big" -- /bin/busybox stat -c %s /big > out 2> err
	test "$(cat out)" -eq 150000000
	expect_grep "^ktpack: the guest gets [0-9]* MiB to unpack its 1[45][0-9] MiB archive\$" err
	# an exact memory is used as given: too little ends the run at once
	start=$(date +%s)
	expect_exit 125 vmrun --exact-memory 320 --include "$PWD/big:/big" -- /bin/true 2> err
	expect_grep "^ktpack: the guest could not unpack its initramfs (Initramfs unpacking failed" err
	test $(($(date +%s) - start)) -lt 60
'

test_expect_success KERNEL,QEMU,MODULES 'a module is loaded with what it needs; an unknown one fails before boot' '
	vmrun --module dummy -- /bin/busybox sh -c "test -d /sys/module/dummy && ls /sys/class/net" > out 2> err
	expect_grep "^dummy0\$" out
	expect_exit 125 vmrun --module no_such_module -- /bin/true 2> err
	expect_grep "^ktpack: unknown kernel module .no_such_module. (not in .*/modules.dep)\$" err
	not grep -q booting err
	mkdir -p other
	expect_exit 125 vmrun --module dummy --modules "$PWD/other" -- /bin/true 2> err
	expect_grep "is not a module tree: it has no modules.dep" err
'

# A copy of the kernel with a config beside it and a module tree beside
# it: the real tree (its modules through a link) plus ktfake, a
# module-shaped object with this kernel's vermagic, which the guest's
# kernel refuses to load.
test_expect_success KERNEL,QEMU,MODULES 'a module that does not load ends the run unless optional; the guest has the kernel config' '
	rel=$(basename "$(dirname "$(ls "$MODTREE"/*/modules.dep | head -n 1)")")
	mkdir -p "k/lib/modules/$rel/extra"
	gcc -c -DVERMAGIC="\"$rel\"" -o "k/lib/modules/$rel/extra/ktfake.ko" "$FIXTURES/module.c"
	ln -s "$MODTREE/$rel/kernel" "k/lib/modules/$rel/kernel"
	{ cat "$MODTREE/$rel/modules.dep"; echo "extra/ktfake.ko:"; } > "k/lib/modules/$rel/modules.dep"
	cp "$MODTREE/$rel/modules.builtin" "k/lib/modules/$rel/"
	cp "$(readlink -f "$KERNEL")" k/vmlinuz
	echo "CONFIG_KTPACK_TEST=y" > "k/config-$rel"
	expect_exit 125 "$KTPACK_FIX" run --kernel k/vmlinuz --timeout 300 --module dummy --module ktfake \
		-- /bin/busybox echo ran > out 2> err
	expect_grep "^ktpack: the guest init could not run the command: module ktfake did not load in the guest: Exec format error\$" err
	test ! -s out
	"$KTPACK_FIX" run --kernel k/vmlinuz --timeout 300 --module dummy --module-optional ktfake -- \
		/bin/busybox sh -c "test -d /sys/module/dummy && cat /boot/config-\$(uname -r)" > out 2> err
	test "$(cat out)" = CONFIG_KTPACK_TEST=y
	expect_grep "^ktpack: warning: guest: cannot load the kernel module /lib/modules/$rel/extra/ktfake.ko: Exec format error\$" err
'

test_expect_success KERNEL,QEMU,PYTHON 'shell: Ctrl-C reaches the guest, the terminal size follows, Ctrl-A x stops it' '
	cat > drive.py <<-\EOF
	import fcntl, struct, sys, termios, time
	from ptyterm import Term
	t = Term(sys.argv[1:])
	fcntl.ioctl(t.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
	t.upto(b"# ")
	t.write(b"stty size; sleep 100\r")
	t.upto(b"40 100")
	time.sleep(2)
	t.write(b"\x03")
	time.sleep(1)
	fcntl.ioctl(t.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 90, 0, 0))
	t.write(b"echo alive-$((40 + 2))\r")
	t.upto(b"alive-42")
	# the new size reaches the guest within a moment
	for i in range(30):
	    t.write(b"stty size\r")
	    if t.seen(b"30 90", 2):
	        break
	t.upto(b"30 90", 1)
	t.write(b"sleep 100\r\x01x")
	t.upto(b"stopped with Ctrl-A x")
	t.end()
	EOF
	PYTHONPATH="$FIXTURES" python3 drive.py "$KTPACK" shell --kernel "$KERNEL" > out 2>&1 ||
		{ cat out; false; }
	expect_grep "\^C" out
	expect_grep "alive-42" out
	expect_grep "stopped with Ctrl-A x" out
	expect_grep "^status=125" out
	test -z "$(ls "$TMPDIR")"
	# a shell whose input is not a terminal reads it as sh does
	printf "echo in-shell-\$((6 * 7)); /bin/wprof -d 1 probe | grep -c arg; exit 5\n" > script
	expect_exit 5 "$KTPACK_FIX" shell --kernel "$KERNEL" < script > out 2> err
	printf "in-shell-42\n4\n" > want
	cmp want out
	expect_exit 0 "$KTPACK" shell --kernel "$KERNEL" < /dev/null
'

test_expect_success KERNEL,QEMU 'errors before anything boots: one line each' '
	expect_exit 125 "$KTPACK_FIX" run --kernel /nonexistent/vmlinuz -- true 2> err
	expect_grep "^ktpack: cannot open kernel ./nonexistent/vmlinuz.: No such file or directory\$" err
	test "$(wc -l < err)" -eq 1
	head -c 4096 /dev/zero > notkernel
	expect_exit 125 "$KTPACK_FIX" run --kernel notkernel -- true 2> err
	expect_grep "^ktpack: .notkernel. is not a Linux kernel image (no bzImage header, no arm64 Image header, not ELF)\$" err
	test "$(wc -l < err)" -eq 1
	app_missing_lib
	expect_exit 125 "$KTPACK_FIX" run --kernel "$KERNEL" --include "$PWD/app:/bin/app" -- /bin/app 2> err
	expect_grep "^ktpack: libgone.so: not found (needed by $PWD/app)\$" err
	test "$(wc -l < err)" -eq 1
	# an include over a file of the base, as in one archive
	echo x > notbusybox
	expect_exit 125 "$KTPACK_FIX" run --kernel "$KERNEL" --include "$PWD/notbusybox:/bin/busybox" -- /bin/true 2> err
	expect_grep "^ktpack: guest path ./bin/busybox. is given twice, with different contents\$" err
	test "$(wc -l < err)" -eq 1
	expect_exit 2 "$KTPACK_FIX" run --kernel "$KERNEL" --cache-includes -- /bin/true 2> err
	expect_grep "cache-includes needs --include" err
	mkdir bin
	ln -s "$(command -v gcc)" bin/gcc
	expect_exit 125 env PATH="$PWD/bin" "$KTPACK_FIX" run --kernel "$KERNEL" -- /bin/true 2> err
	expect_grep "^ktpack: qemu-system-x86_64 not found in PATH: install QEMU" err
	test "$(wc -l < err)" -eq 1
	expect_exit 125 env TMPDIR=/proc/self "$KTPACK_FIX" run --kernel "$KERNEL" -- /bin/true 2> err
	expect_grep "^ktpack: cannot create a work folder in ./proc/self. (TMPDIR): " err
	expect_exit 2 "$KTPACK_FIX" run -- /bin/true 2> err
	expect_grep "kernel FILE is required (or set KTSTR_KERNEL)" err
	expect_exit 2 "$KTPACK_FIX" run --kernel "$KERNEL" 2> err
	expect_grep "no command given" err
'

test_expect_success KERNEL,QEMU 'a kernel panic ends the run at once with a clear error; a claimed one is said to be' '
	expect_exit 125 vmrun -- /bin/busybox sh -c "echo c > /proc/sysrq-trigger" > out 2> err
	expect_grep "^ktpack: the guest console reports a kernel panic (after /init started: a guest command could have written it): Kernel panic - not syncing: sysrq triggered crash" err
	# the words alone, then a power-off: only the console says so
	expect_exit 125 vmrun -- /bin/busybox sh -c \
		"echo Kernel panic - not syncing: forged > /dev/console; poweroff -f" > out 2> err
	expect_grep "^ktpack: the guest console reports a kernel panic (after /init started: .*): Kernel panic - not syncing: forged" err
	not grep -q "the guest kernel panicked" err
'

test_expect_success KERNEL,QEMU 'kernel events are said once and kept; --fail-on ends the run with them' '
	oom="Out of memory: Killed process 42 (victim) total-vm:1kB"
	KTPACK_DEBUG=1 vmrun -- /bin/busybox sh -c \
		"echo \"$oom\" > /dev/console; echo \"$oom\" > /dev/console; sleep 1; echo done" > out 2> err
	test "$(cat out)" = done
	# where the time went, in the result and a debug line
	expect_grep "^ktpack: debug: timings: prepare [0-9]* ms, KVM given up [0-9]* ms, boot [1-9][0-9]* ms, command [1-9][0-9][0-9][0-9]* ms, end [0-9]* ms\$" err
	test "$(grep -c "^ktpack: warning: the guest kernel reported an out-of-memory kill: $oom" err)" -eq 1
	# the command is killed, its trace comes back, the run fails
	expect_exit 125 vmrun --wprof --trace-out t.pb --fail-on warn,oom -- /bin/busybox sh -c \
		"echo \"$oom\" > /dev/console; sleep 200; echo unreachable" > out 2> err
	expect_grep "^ktpack: the guest kernel reported an out-of-memory kill (--fail-on oom): $oom" err
	not grep -q unreachable out
	test "$(wc -c < t.pb)" -eq 65536
	expect_exit 2 "$KTPACK" run --fail-on oom,nope -- /bin/true 2> err
	expect_grep "nope.* is not a kernel event (oom, lockup, stall, hung, warn or all)" err
'

test_expect_success KERNEL,QEMU 'a topology: nodes, LLC groups and SMT siblings as asked, the memory split evenly' '
	vmrun --topology 2n2l2c2t -- /bin/busybox sh -c "
		nproc
		cat /sys/devices/system/node/node*/cpulist
		cat /sys/devices/system/cpu/cpu*/cache/index3/shared_cpu_list | sort -u | tr \"\\n\" \" \"; echo
		cat /sys/devices/system/cpu/cpu*/topology/thread_siblings_list | sort -u | tr \"\\n\" \" \"; echo
		sed -n \"s/.*MemTotal: *\\([0-9]*\\) kB/\\1/p\" /sys/devices/system/node/node*/meminfo" > out 2> err ||
		{ cat out err; false; }
	expect_grep "^ktpack: booting .*: x86_64, 16 CPUs (2 nodes, 2 LLCs each, 2 cores per LLC, 2 threads per core), 1024 MiB, " err
	printf "16\n0-7\n8-15\n0-3 12-15 4-7 8-11 \n0-1 10-11 12-13 14-15 2-3 4-5 6-7 8-9 \n" > want
	head -n 5 out > got
	cmp want got || { cat out err; false; }
	# each node has its half (less what the kernel took of it)
	for kb in $(tail -n 2 out); do
		test "$kb" -gt 400000 && test "$kb" -le 524288 || { cat out; false; }
	done
	expect_exit 2 "$KTPACK" run --topology 2n0c -- /bin/true 2> err
	expect_grep "at least one of each" err
	expect_exit 2 "$KTPACK" run --topology 16n16c -- /bin/true 2> err
	expect_grep "256 CPUs: the most a guest gets is 255" err
	expect_exit 2 vmrun --cpus 4 --topology 2n -- /bin/true 2> err
	expect_grep "^ktpack run: --cpus 4 and --topology (2 CPUs) disagree: give one of them" err
'

test_expect_success KERNEL,QEMU '--repro runs a failing command again under wprof: its status stays, the trace comes back' '
	rm -f wprof.pb
	echo in > input
	expect_exit 3 vmrun --repro -- /bin/busybox sh -c "cat; exit 3" < input > out 2> err
	# the first run'"'"'s output only; a second boot, with the wprof floor
	test "$(cat out)" = in
	test "$(grep -c "^ktpack: --repro: running the command again with wprof" err)" -eq 1
	sed -n "/^ktpack: --repro: running/,\$p" err > second
	expect_grep "^ktpack: booting .*, 2 CPUs, 2048 MiB, " second
	expect_grep "^ktpack: --repro: the command gets its stdin file again\$" err
	expect_grep "^ktpack: --repro: run again under wprof, the command exited with status 3; wrote the wprof trace to .wprof.pb. (65536 bytes)\$" err
	test "$(wc -c < wprof.pb)" -eq 65536
	rm wprof.pb
	# a command that succeeds runs once
	vmrun --repro -- /bin/true 2> err
	not grep -q "^ktpack: --repro" err
	test ! -e wprof.pb
	# no wprof to trace with: an error before anything boots
	expect_exit 125 "$KTPACK" run --kernel "$KERNEL" --repro -- /bin/true 2> err
	expect_grep "^ktpack: wprof is not embedded" err
	not grep -q "^ktpack: booting" err
'

test_expect_success KERNEL,QEMU 'the vmlinux through PVH and the bzImage boot alike; the probe is asked once' '
	expect_exit 6 vmrun -- /bin/busybox sh -c "echo pvh; exit 6" > out 2> err
	expect_grep "^pvh" out
	expect_grep "vmlinux through PVH\( (not KVM: .*)\)\?\$" err
	ls "$KTSTR_CACHE_DIR" | grep -q "^kvm-probe-"
	expect_exit 7 vmrun --no-pvh -- /bin/busybox sh -c "echo bz; exit 7" > out 2> err
	expect_grep "^bz" out
	expect_grep "booting $KERNEL: x86_64, 2 CPUs, 256 MiB, \(KVM\|TCG\)\( (not KVM: .*)\)\?\$" err
	# the probe answered once; its warning is not repeated
	not grep -q "KVM is not usable" err
'

test_expect_success KERNEL,QEMU 'two cold runs at once extract the vmlinux once and leave no staging file' '
	private_cache
	vmrun -- /bin/busybox echo one > out1 2> err1 &
	p1=$!
	vmrun -- /bin/busybox echo two > out2 2> err2 &
	p2=$!
	wait $p1
	wait $p2
	expect_grep "^one" out1
	expect_grep "^two" out2
	test "$(ls "$KTSTR_CACHE_DIR" | grep -c "^vmlinux-[0-9a-f]\{64\}\$")" -eq 1
	test -z "$(ls -A "$KTSTR_CACHE_DIR" | grep "^\.")"
'

test_expect_success KERNEL,QEMU '--kernel and KTSTR_KERNEL take a vmlinux and a kernel build tree' '
	vmrun -- /bin/true
	mkdir -p tree/arch/x86/boot
	cp "$KTSTR_CACHE_DIR"/vmlinux-* tree/vmlinux
	# (new kernel files, which KVM would have to prove it boots: TCG)
	"$KTPACK" run --kernel tree --accel tcg -- /bin/busybox echo from-tree > out 2> err
	expect_grep "^from-tree" out
	expect_grep "booting tree: .*vmlinux through PVH\$" err
	KTSTR_KERNEL="$PWD/tree/vmlinux" "$KTPACK" run --accel tcg -- /bin/busybox echo from-elf > out 2> err
	expect_grep "^from-elf" out
	rm tree/vmlinux
	cp "$KERNEL" tree/arch/x86/boot/bzImage
	"$KTPACK" run --kernel tree --no-pvh --accel tcg -- /bin/busybox echo from-bz > out 2> err
	expect_grep "^from-bz" out
	expect_exit 125 "$KTPACK" run --kernel /bin/true -- /bin/true 2> err
	expect_grep "an ELF kernel without a PVH entry point cannot be booted" err
'

test_expect_success KERNEL,QEMU 'the guest cannot forge its status, a failure or the trace, nor swallow init'"'"'s last frames' '
	cat > g.sh <<-\EOS
	test ! -e /ktpack/nonce || echo NONCE-READABLE
	echo "Kernel panic - not syncing: only words" | tee /dev/console
	echo "Initramfs unpacking failed: only words" | tee /dev/console
	printf "KTCH\\012\\0\\0\\0\\004\\0\\0\\0\\0\\0\\0\\0" > /dev/ttyS1
	printf "KTCH\\012\\0\\0\\0" > /dev/vport0p1 2> /dev/null
	echo "nargs=$#"
	head -c 3000 /dev/zero | tr "\0" a
	printf "x\0y"
	sleep 1
	# the port of init, taken from it: frames with valid CRCs
	/ch-forge fail trace log swallow || echo FORGE-FAILED
	exit 4
	EOS
	mkdir "$TRASH/a,b"
	expect_exit 4 env TMPDIR="$TRASH/a,b" "$KTPACK_FIX" run --kernel "$KERNEL" --timeout 120 \
		--wprof --trace-out t.pb --include "$KT_OUT/tests/ch-forge:/ch-forge" \
		--include "$PWD/g.sh:/g.sh" -- /bin/busybox sh /g.sh $(seq 300) > out 2> err
	expect_grep "^nargs=300" out
	not grep -q "NONCE-READABLE\|FORGE-FAILED" out
	test -z "$(ls -A "$TRASH/a,b")"
	# the trace is the one wprof wrote, not one of the command
	test "$(wc -c < t.pb)" -eq 65536
	not grep -q FORGED-TRACE t.pb
	not grep -q "init could not run the command" err
	# its warning is shown without a terminal control or bidi override
	expect_grep "^ktpack: warning: guest: forged ?2J ?evil\$" err
	not grep -q "$(printf "\302\233")\|$(printf "\342\200\256")" err
	# on the serial channel, a header anyone can write to ttyS1
	expect_exit 4 "$KTPACK" run --kernel "$KERNEL" --timeout 120 --channel serial -- /bin/busybox sh -c \
		"printf \"KTCH\\002\\0\\0\\0\\0\\0\\001\\0\" > /dev/ttyS1; exit 4" 2> err
'

test_expect_success KERNEL,QEMU 'SIGINT and SIGQUIT reach the guest command; the third stops the VM' '
	"$KTPACK" run --kernel "$KERNEL" -- /bin/busybox sh -c \
		"trap \"echo got-int; exit 7\" INT; echo ready; while :; do sleep 1; done" > out 2> err &
	pid=$!
	wait_for out "^ready"
	kill -INT $pid
	expect_exit 7 wait $pid
	expect_grep "^got-int" out
	# stdin the command never reads does not hold the signal back
	yes | "$KTPACK" run --kernel "$KERNEL" -- /bin/busybox sh -c "echo ready; exec sleep 1000" > out 2> err &
	pid=$!
	wait_for out "^ready"
	kill -INT $pid
	expect_exit 130 wait $pid
	"$KTPACK" run --kernel "$KERNEL" -- /bin/busybox sh -c \
		"trap \"\" INT QUIT; echo ready; sleep 1000" > out 2> err &
	pid=$!
	wait_for out "^ready"
	kill -INT $pid
	sleep 1
	kill -QUIT $pid
	sleep 1
	kill -INT $pid
	expect_exit 130 wait $pid
	expect_grep "^ktpack: interrupted: the VM was stopped\$" err
	test -z "$(ls -A "$TMPDIR")"
'

test_expect_success KERNEL,QEMU,PYTHON 'at a terminal: Ctrl-C reaches the command, not QEMU; Ctrl-Z stops both, fg resumes both, the time stopped not counted' '
	cat > term.py <<-\EOF
	import os, signal, sys, time
	from ptyterm import Term
	def state(p):
	    return open("/proc/%d/stat" % p).read().rsplit(")", 1)[1].split()[0]
	def until(p, want, t=10):
	    end = time.time() + t
	    while (state(p) == "T") != want and time.time() < end:
	        time.sleep(0.1)
	    return state(p)
	t = Term(sys.argv[1:], job=True)
	t.upto(b"ready")
	qemu = int(open("/proc/%d/task/%d/children" % (t.job, t.job)).read().split()[0])
	t.write(b"\x1a")                 # Ctrl-Z: ktpack stops, and QEMU with it
	assert until(t.job, True) == "T", state(t.job)
	assert until(qemu, True) == "T", state(qemu)
	time.sleep(10)                    # longer than --timeout: not counted
	os.kill(t.job, signal.SIGCONT)    # fg: both go on
	assert until(qemu, False) != "T", state(qemu)
	t.write(b"\x03")                 # Ctrl-C: the command traps it
	t.upto(b"got-int")
	t.end()
	EOF
	PYTHONPATH="$FIXTURES" python3 term.py "$KTPACK" run --kernel "$KERNEL" --timeout 8 -- /bin/busybox sh -c \
		"trap \"echo got-int; exit 7\" INT; echo ready; while :; do sleep 1; done" > out 2>&1 ||
		{ cat out; false; }
	expect_grep "got-int" out
	expect_grep "^status=7" out
	not grep -q "terminating on signal" out
'

test_expect_success KERNEL,QEMU 'a hang-up stops the VM and removes the run'"'"'s files; QEMU dies with a killed ktpack' '
	"$KTPACK" run --kernel "$KERNEL" --accel tcg -- /bin/busybox sh -c "echo ready; exec sleep 1000" > out 2> err &
	pid=$!
	wait_for out "^ready"
	kill -HUP $pid
	expect_exit 129 wait $pid
	expect_grep "^ktpack: interrupted: the VM was stopped\$" err
	test -z "$(ls -A "$TMPDIR")"
	"$KTPACK" run --kernel "$KERNEL" --accel tcg -- /bin/busybox sh -c "echo ready; exec sleep 1000" > out 2> err &
	pid=$!
	wait_for out "^ready"
	qemu=$(cut -d" " -f1 /proc/$pid/task/$pid/children)
	grep -q qemu-system "/proc/$qemu/cmdline"
	kill -KILL $pid
	i=0
	while test -e "/proc/$qemu" && [ $i -lt 20 ]; do sleep 0.5; i=$((i + 1)); done
	test ! -e "/proc/$qemu"
	# the next run removes what the killed one left
	test -n "$(ls -A "$TMPDIR")"
	vmrun -- /bin/true
	test -z "$(ls -A "$TMPDIR")"
'

test_expect_success KERNEL,QEMU 'the guest has what tracing tools need; its /init refuses to run again' '
	cat > g.sh <<-\EOF
	echo "switch-id=$(cat /sys/kernel/tracing/events/sched/sched_switch/id)"
	echo "controllers=$(cat /sys/fs/cgroup/cgroup.controllers)"
	echo "enabled=$(cat /sys/fs/cgroup/cgroup.subtree_control)"
	for d in /sys/fs/bpf /dev/pts /dev/shm /run /sys/kernel/debug; do
		grep -q " $d " /proc/mounts && echo "have $d"
	done
	test -e /dev/pts/ptmx && echo have-ptmx
	readlink /dev/fd
	echo "user=$(id -un) host=$(hostname) memlock=$(ulimit -l)"
	ping -c1 -W5 localhost > /dev/null && echo lo-up
	/init 2> /tmp/init.err; echo "init-exit=$?"; sed "s/^/init-said: /" /tmp/init.err
	EOF
	vmrun --include "$PWD/g.sh:/g.sh" -- /bin/busybox sh /g.sh > out 2> err
	# /init run again, not as PID 1 (here, not on the host: a broken
	# check would mount over the folders of the machine it runs on)
	expect_grep "^init-exit=2\$" out
	expect_grep "^init-said: ktpack-init: refusing to run: not PID 1 " out
	test "$(grep -c "^init-said: " out)" -eq 1
	expect_grep "^switch-id=[0-9][0-9]*" out
	expect_grep "^controllers=.*memory" out
	ctl=$(sed -n "s/^controllers=//p" out)
	expect_grep "^enabled=$ctl" out
	for d in /sys/fs/bpf /dev/pts /dev/shm /run /sys/kernel/debug; do
		expect_grep "^have $d.\?\$" out
	done
	expect_grep "^have-ptmx" out
	expect_grep "^/proc/self/fd.\?\$" out
	expect_grep "^user=root host=ktpack memlock=unlimited" out
	expect_grep "^lo-up" out
	vmrun --console -- /bin/true 2> err
	not grep -q "cannot mount" err
'

test_expect_success KERNEL,QEMU 'a run needs no cache folder: it keeps nothing and says so' '
	echo not-a-folder > "$TMPDIR/ktstr-$(id -u)"
	# (TCG: without a cache nothing of KVM is remembered either)
	env KTSTR_CACHE_DIR="$PWD/no/such" HOME=/nonexistent-home \
		"$KTPACK_FIX" run --kernel "$KERNEL" --accel tcg --wprof -- /bin/busybox echo uncached > out 2> err
	expect_grep "^uncached" out
	expect_grep "^ktpack: warning: no usable cache folder .*: nothing is cached, the bzImage boots\$" err
	test -s wprof.pb
	test "$(ls -A "$TMPDIR")" = "ktstr-$(id -u)"
'

test_expect_success KERNEL,QEMU 'where the trace goes is checked before anything boots' '
	expect_exit 125 vmrun --wprof --trace-out /nonexistent/t.pb -- /bin/true 2> err
	expect_grep "^ktpack: cannot write ./nonexistent/t.pb.: No such file or directory\$" err
	not grep -q booting err
	mkdir ro
	expect_exit 125 vmrun --wprof --trace-out "$PWD" -- /bin/true 2> err
	expect_grep "it is a folder" err
	# a FIFO that nothing reads fails the trace, not the run: the status is said
	mkfifo fifo
	expect_exit 125 vmrun --wprof --trace-out fifo -- /bin/busybox sh -c "exit 3" 2> err
	expect_grep "^ktpack: cannot write .fifo.: a FIFO that nothing reads (the command exited with status 3)\$" err
'

# arm64 guests from this host: Debian's arm64 kernel (make deps unpacks
# it with its modules), under qemu-system-aarch64, with the fixture build's
# arm64 slots (the wprof-shaped fixture cross-built as WPROF_ARM64).
KERNEL_ARM64=${KTSTR_KERNEL_ARM64:-/var/cache/ktpack/arm64/vmlinuz}
CRC="$KT_OUT/tests/crc32"
CRC_ARM64="$KT_OUT/tests/crc32-arm64"
test_lazy_prereq ARM64 'test -r "$KERNEL_ARM64" && command -v qemu-system-aarch64 &&
	test -x "$CRC_ARM64" && "$KTPACK_FIX" blobs | grep -q "^wprof  *aarch64  *[1-9]"'

test_expect_success ARM64 'an arm64 kernel boots from this host: streams, status, stdin, a module, wprof and its trace' '
	printf "line one\nline two\n" > in
	"$KTPACK_FIX" run --kernel "$KERNEL_ARM64" --timeout 300 --wprof --console --trace-out t.pb \
		--module dummy --include "$CRC_ARM64:/bin/kcrc" -- \
		sh -c "uname -m; kcrc hello; ls /sys/class/net; sort -r; printf \"e\\000r\\n\" >&2; exit 7" \
		< in > out 2> err && rc=0 || rc=$?
	test $rc = 7
	{ echo aarch64; "$CRC" hello; } > want
	head -n 2 out > got
	diff want got
	expect_grep "^dummy0\$" out
	tail -n 2 out > got
	printf "line two\nline one\n" > want
	diff want got
	printf "e\000r\n" > want
	grep -a "^e.r\$" err > got
	cmp want got
	expect_grep "^ktpack: booting .*: aarch64, 2 CPUs" err
	guest_args err > got
	want_args -d 500 -e sched --ringbuf-size=256000 --ringbuf-cnt=8 -T /tmp/wprof.pb > want
	diff want got
	expect_grep "^wprof-fixture: libelf 1 zlib 1.2.13 zstd" err
	"$FIXTURE" -d 500 -e sched --ringbuf-size=256000 --ringbuf-cnt=8 -T host.pb > /dev/null
	cmp t.pb host.pb
'

test_expect_success ARM64 'an arm64 guest with a topology: nodes, clusters and SMT siblings, over 8 CPUs' '
	"$KTPACK" run --kernel "$KERNEL_ARM64" --timeout 300 --topology 2n2l2c2t -- /bin/busybox sh -c "
		nproc
		cat /sys/devices/system/node/node*/cpulist
		cat /sys/devices/system/cpu/cpu*/topology/cluster_cpus_list | sort -u | tr \"\\n\" \" \"; echo
		cat /sys/devices/system/cpu/cpu*/topology/thread_siblings_list | sort -u | tr \"\\n\" \" \"; echo" > out 2> err
	printf "16\n0-7\n8-15\n0-3 12-15 4-7 8-11 \n0-1 10-11 12-13 14-15 2-3 4-5 6-7 8-9 \n" > want
	cmp want out
'

test_expect_success ARM64 'an arm64 guest: what cannot work is one line before boot' '
	expect_exit 125 "$KTPACK_FIX" run --kernel "$KERNEL_ARM64" --arch x86_64 -- true 2> err
	expect_grep "^ktpack: --arch x86_64: the kernel .*vmlinuz. is an aarch64 kernel\$" err
	test "$(wc -l < err)" -eq 1
	expect_exit 125 "$KTPACK_FIX" run --kernel "$KERNEL_ARM64" --channel serial -- true 2> err
	expect_grep "^ktpack: --channel serial: an aarch64 guest has no second serial port (its channel is virtio)\$" err
	expect_exit 125 "$KTPACK_FIX" run --kernel "$KERNEL_ARM64" --accel kvm -- true 2> err
	expect_grep "^ktpack: --accel kvm: KVM cannot run an aarch64 guest on this x86_64 machine\$" err
	expect_exit 125 "$KTPACK_FIX" run --kernel "$KERNEL_ARM64" --include /bin/true:/bin/t -- /bin/t 2> err
	expect_grep "^ktpack: ./bin/true. is an x86_64 program: the guest is aarch64\$" err
	mkdir -p qbin
	ln -sf "$(command -v qemu-system-x86_64)" qbin/
	ln -sf "$(command -v gcc)" qbin/
	expect_exit 125 env PATH="$PWD/qbin" "$KTPACK_FIX" run --kernel "$KERNEL_ARM64" -- true 2> err
	expect_grep "^ktpack: qemu-system-aarch64 not found in PATH: install QEMU (Debian: apt-get install qemu-system-arm)\$" err
	# a copy of the kernel away from its module tree: its channel driver
	# cannot come, said before boot
	cp "$KERNEL_ARM64" Image
	expect_exit 125 "$KTPACK_FIX" run --kernel Image -- true 2> err
	expect_grep "^ktpack: no module tree .*: an aarch64 guest.s channel needs virtio_console from it\$" err
	test "$(wc -l < err)" -eq 1
	# the host'"'"'s wprof named in the environment, and no arm64 one
	expect_exit 125 env KTSTR_WPROF_PATH="$FIXTURE" "$KTPACK" run --kernel "$KERNEL_ARM64" --wprof -- true 2> err
	expect_grep "^ktpack: wprof .*wprof-fixture. is an x86_64 program: the guest is aarch64\$" err
	not grep -q booting err
'

test_done
