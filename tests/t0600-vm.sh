#!/bin/sh
# ktpack run / shell: real boots of the Debian kernel that `make deps`
# unpacks (KTSTR_KERNEL overrides), under KVM when it works, TCG otherwise.
. "$(dirname "$0")/lib.sh"
KERNEL=${KTSTR_KERNEL:-/var/cache/ktpack/vmlinuz}

vmrun() { "$KTPACK_FIX" run --kernel "$KERNEL" --timeout 300 "$@"; }
hexof() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n'; }
# The args the fixture printed, one hex string per line, argv[0] left out.
guest_args() { sed -n 's/^wprof-fixture: arg\[[1-9][0-9]*\]=\([0-9a-f]*\).*/\1/p' "$1"; }
# The hex lines the fixture prints for these args.
want_args() { for a in "$@"; do hexof "$a"; echo; done; }

test_expect_success KERNEL,QEMU 'run prints the guest command'"'"'s output and exits 0' '
	vmrun -- /bin/busybox echo hello > out 2> err
	grep -q "^hello.\?\$" out
	expect_grep "booting $KERNEL: 2 CPUs, 256 MiB, \(KVM\|TCG\), vmlinux through PVH\$" err
	if grep -q "falling back to TCG" err; then
		# what made auto fall back makes an explicit --accel kvm fail
		expect_exit 125 "$KTPACK_FIX" run --kernel "$KERNEL" --accel kvm -- /bin/true 2> err2
		expect_grep "^ktpack: KVM does not work here: " err2
	fi
	ls "$KTSTR_CACHE_DIR" | grep -c "^initramfs-" > n
	test "$(cat n)" -eq 1
'

test_expect_success KERNEL,QEMU 'the command'"'"'s exit status is ktpack'"'"'s, the base archive reused' '
	expect_exit 3 vmrun --accel tcg -- /bin/busybox sh -c "exit 3"
	# as timeout(1): 128+N for a signal, 127 not found, 126 not runnable
	expect_exit 137 vmrun -- /bin/busybox sh -c "kill -9 \$\$"
	expect_exit 127 vmrun -- /nonexistent/cmd
	expect_exit 126 vmrun -- /etc/passwd
	# a command that exits at once: its output must not be dropped
	expect_exit 0 vmrun --accel tcg -- /bin/busybox uname -s > out
	grep -q "^Linux.\?\$" out
	test "$(ls "$KTSTR_CACHE_DIR" | grep -c "^initramfs-")" -eq 1
	echo x > extra
	expect_exit 0 vmrun --accel tcg --include "$PWD/extra:/extra" -- /bin/busybox cat /extra
	test "$(ls "$KTSTR_CACHE_DIR" | grep -c "^initramfs-")" -eq 2
'

test_expect_success KERNEL,QEMU 'a command that never ends is stopped at --timeout' '
	start=$(date +%s)
	expect_exit 124 "$KTPACK_FIX" run --kernel "$KERNEL" --timeout 20 -- /bin/busybox sleep 1000 > out 2> err
	expect_grep "^ktpack: the guest command did not finish within 20 s: the VM was stopped\$" err
	test $(($(date +%s) - start)) -lt 120
	test -z "$(ls "$TMPDIR")"
'

test_expect_success KERNEL,QEMU 'wprof gets the default args byte for byte; the trace comes back' '
	vmrun --wprof --trace-out t.pb -- /bin/busybox echo traced > out 2> err
	expect_grep "^traced" out
	guest_args out > got
	want_args -d 500 -e sched --ringbuf-size=256000 --ringbuf-cnt=8 -T /tmp/wprof.pb > want
	diff want got
	"$FIXTURE" -d 500 -e sched --ringbuf-size=256000 --ringbuf-cnt=8 -T host.pb > /dev/null
	test "$(sha256sum < t.pb)" = "$(sha256sum < host.pb)"
	expect_grep "^ktpack: wrote the wprof trace to .t.pb. (65536 bytes)\$" err
'

test_expect_success KERNEL,QEMU '--wprof-args reach the guest as typed; ./wprof.pb by default' '
	vmrun --wprof-args "-d 50 -e sched --x=a,b:c/d%" -- /bin/busybox true > out 2> err
	guest_args out > got
	want_args -d 50 -e sched --x=a,b:c/d% -T /tmp/wprof.pb > want
	diff want got
	"$FIXTURE" -d 50 -e sched --x=a,b:c/d% -T host.pb > /dev/null
	cmp wprof.pb host.pb
'

test_expect_success KERNEL,QEMU 'a wprof that hangs is stopped at its deadline and reported' '
	expect_exit 125 vmrun --wprof-args "-d 100 --fixture-stubborn" --wprof-grace 1 -- /bin/busybox true > out 2> err
	expect_grep "ktpack-init: wprof did not finish in time: sending SIGTERM" out
	expect_grep "ktpack-init: wprof ignored SIGTERM: sending SIGKILL" out
	expect_grep "ktpack-init: wprof wrote no trace" out
	expect_grep "^ktpack: no trace came back from the guest (the command exited with status 0)\$" err
	test ! -e wprof.pb
'

test_expect_success KERNEL,QEMU 'the guest gets the derived memory, with the wprof floor' '
	vmrun --wprof -- /bin/busybox awk "/MemTotal/ { print \"mem=\" \$2 }" /proc/meminfo > out 2> err
	expect_grep "2 CPUs, 2048 MiB" err
	kb=$(sed -n "s/^mem=\([0-9]*\).*/\1/p" out)
	test "$kb" -gt $((2048 * 1024 * 85 / 100))
	test "$kb" -le $((2048 * 1024))
	vmrun --cpus 8 -- /bin/busybox awk "/MemTotal/ { print \"mem=\" \$2 }" /proc/meminfo > out 2> err
	expect_grep "8 CPUs, 512 MiB" err
	kb=$(sed -n "s/^mem=\([0-9]*\).*/\1/p" out)
	test "$kb" -gt $((512 * 1024 * 75 / 100))
	test "$kb" -le $((512 * 1024))
'

test_expect_success KERNEL,QEMU 'errors before anything boots: one line each' '
	expect_exit 125 "$KTPACK_FIX" run --kernel /nonexistent/vmlinuz -- true 2> err
	expect_grep "^ktpack: cannot open kernel ./nonexistent/vmlinuz.: No such file or directory\$" err
	test "$(wc -l < err)" -eq 1
	head -c 4096 /dev/zero > notkernel
	expect_exit 125 "$KTPACK_FIX" run --kernel notkernel -- true 2> err
	expect_grep "^ktpack: .notkernel. is not a Linux kernel image (no bzImage header)\$" err
	test "$(wc -l < err)" -eq 1
	app_missing_lib
	expect_exit 125 "$KTPACK_FIX" run --kernel "$KERNEL" --include "$PWD/app:/bin/app" -- /bin/app 2> err
	expect_grep "^ktpack: libgone.so: not found (needed by $PWD/app)\$" err
	test "$(wc -l < err)" -eq 1
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

test_expect_success KERNEL,QEMU 'a kernel panic ends the run at once with a clear error' '
	expect_exit 125 vmrun -- /bin/busybox sh -c "echo c > /proc/sysrq-trigger" > out 2> err
	expect_grep "^ktpack: the guest kernel panicked: Kernel panic - not syncing: sysrq triggered crash" err
'

test_expect_success KERNEL,QEMU 'the vmlinux through PVH and the bzImage boot alike; the probe is asked once' '
	expect_exit 6 vmrun -- /bin/busybox sh -c "echo pvh; exit 6" > out 2> err
	expect_grep "^pvh" out
	expect_grep "vmlinux through PVH\$" err
	ls "$KTSTR_CACHE_DIR" | grep -q "^kvm-probe-"
	expect_exit 7 vmrun --no-pvh -- /bin/busybox sh -c "echo bz; exit 7" > out 2> err
	expect_grep "^bz" out
	expect_grep "booting $KERNEL: 2 CPUs, 256 MiB, \(KVM\|TCG\)\$" err
	# the probe answered once; its warning is not repeated
	not grep -q "KVM is not usable" err
'

test_expect_success KERNEL,QEMU 'two cold runs at once extract the vmlinux once and leave no staging file' '
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
	"$KTPACK" run --kernel tree -- /bin/busybox echo from-tree > out 2> err
	expect_grep "^from-tree" out
	expect_grep "booting tree: .*vmlinux through PVH\$" err
	KTSTR_KERNEL="$PWD/tree/vmlinux" "$KTPACK" run -- /bin/busybox echo from-elf > out 2> err
	expect_grep "^from-elf" out
	rm tree/vmlinux
	cp "$KERNEL" tree/arch/x86/boot/bzImage
	"$KTPACK" run --kernel tree --no-pvh -- /bin/busybox echo from-bz > out 2> err
	expect_grep "^from-bz" out
	expect_exit 125 "$KTPACK" run --kernel /bin/true -- /bin/true 2> err
	expect_grep "an ELF kernel without a PVH entry point cannot be booted" err
'

test_expect_success KERNEL,QEMU 'shell: an interactive busybox shell with wprof and its libraries' '
	mkfifo in
	"$KTPACK_FIX" shell --kernel "$KERNEL" < in > out 2> err &
	pid=$!
	exec 3> in
	i=0
	while ! grep -q "ktpack-init: started" out && [ $i -lt 600 ]; do
		sleep 0.5
		i=$((i + 1))
	done
	sleep 3
	printf "echo in-shell-\$((6 * 7)); /bin/wprof -d 1 probe | grep -c arg; exit 5\n" >&3
	set +e
	wait $pid
	rc=$?
	set -e
	exec 3>&-
	test $rc -eq 5
	expect_grep "in-shell-42" out
	expect_grep "^4.\?\$" out
'

test_expect_success KERNEL,QEMU 'the guest cannot forge its status; odd output, many arguments and a comma in TMPDIR keep it' '
	cat > g.sh <<-\EOS
	test ! -e /ktpack/nonce || echo NONCE-READABLE
	echo "KTPACK-EXIT-0123456789abcdef: 0"
	echo "Kernel panic - not syncing: only words"
	echo "nargs=$#"
	head -c 3000 /dev/zero | tr "\0" a
	printf "x\0y"
	exit 4
	EOS
	mkdir "$TRASH/a,b"
	expect_exit 4 env TMPDIR="$TRASH/a,b" "$KTPACK" run --kernel "$KERNEL" --timeout 300 \
		--include "$PWD/g.sh:/g.sh" -- /bin/busybox sh /g.sh $(seq 300) > out 2> err
	expect_grep "^nargs=300" out
	not grep -q NONCE-READABLE out
	test -z "$(ls -A "$TRASH/a,b")"
'

test_expect_success KERNEL,QEMU 'a hang-up stops the VM and removes the run'"'"'s files; QEMU dies with a killed ktpack' '
	"$KTPACK" run --kernel "$KERNEL" --accel tcg -- /bin/busybox sleep 1000 > out 2> err &
	pid=$!
	i=0
	while ! grep -q "ktpack-init: started" out && [ $i -lt 600 ]; do sleep 0.5; i=$((i + 1)); done
	kill -HUP $pid
	expect_exit 129 wait $pid
	expect_grep "^ktpack: interrupted: the VM was stopped\$" err
	test -z "$(ls -A "$TMPDIR")"
	"$KTPACK" run --kernel "$KERNEL" --accel tcg -- /bin/busybox sleep 1000 > out 2> err &
	pid=$!
	i=0
	while ! grep -q "ktpack-init: started" out && [ $i -lt 600 ]; do sleep 0.5; i=$((i + 1)); done
	pgrep -f "$TMPDIR/ktpack-run" > /dev/null
	kill -KILL $pid
	i=0
	while pgrep -f "$TMPDIR/ktpack-run" > /dev/null && [ $i -lt 20 ]; do sleep 0.5; i=$((i + 1)); done
	not pgrep -f "$TMPDIR/ktpack-run"
	# the next run removes what the killed one left
	test -n "$(ls -A "$TMPDIR")"
	vmrun -- /bin/true
	test -z "$(ls -A "$TMPDIR")"
'

test_expect_success KERNEL,QEMU 'the guest has what tracing tools need' '
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
	EOF
	vmrun --include "$PWD/g.sh:/g.sh" -- /bin/busybox sh /g.sh > out 2> err
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
	not grep -q "cannot mount" out
'

test_expect_success KERNEL,QEMU 'a run needs no cache folder: it keeps nothing and says so' '
	echo not-a-folder > "$TMPDIR/ktstr-$(id -u)"
	env KTSTR_CACHE_DIR="$PWD/no/such" HOME=/nonexistent-home \
		"$KTPACK_FIX" run --kernel "$KERNEL" --wprof -- /bin/busybox echo uncached > out 2> err
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
'

test_done
