#!/bin/sh
# KVM or TCG, and what a run needs: a KVM that runs the probe's boot
# sector but hangs every kernel (a test double of QEMU), QEMU's own errors
# ending a run at once, missing firmware named before QEMU starts, ktpack
# doctor, folders of foreign programs packed as data, and the real KVM
# path booted under nested virtualisation.
. "$(dirname "$0")/lib.sh"
KERNEL=${KTSTR_KERNEL:-/var/cache/ktpack/vmlinuz}
test_shared_cache

FIXTURES="$(cd "$(dirname "$0")" && pwd)/fixtures"
HANGS="$FIXTURES/qemu-kvm-hangs.sh"
CRC_ARM64="$KT_OUT/tests/crc32-arm64"
MODROOT="$(dirname "$(readlink -f "$KERNEL")")/lib/modules"
# (the double's probe passes without running anything; ktpack asks for a
# usable /dev/kvm first)
test_lazy_prereq KVMDEV 'test -r /dev/kvm && test -w /dev/kvm'
test_lazy_prereq ARM64LIBS 'test -x "$CRC_ARM64"'
# TCG emulates SVM (not VMX): an outer guest with -cpu max gets kvm_amd
test_lazy_prereq NESTED 'qemu-system-x86_64 -cpu help | grep -qw svm &&
	test -n "$(find "$MODROOT"/*/ -name "kvm-amd.ko*" | head -n 1)"'
test_lazy_prereq STATIC 'test -x "$KT_OUT/static/ktpack"'

# qemu [ARG...]: runs ktpack with the test double as its QEMU.
hangs() { "$KTPACK" run --kernel "$KERNEL" --timeout 300 --qemu "$HANGS" "$@"; }
# The boot lines of a run's stderr.
boots() { grep -c "^ktpack: booting " "$1"; }

test_expect_success KERNEL,QEMU,KVMDEV 'a KVM that cannot boot the kernel: the run starts again under TCG once, and loses nothing' '
	KTSTR_CACHE_DIR="$TRASH/cache"
	export KT_QEMU_LOG="$PWD/qemu.log"
	start=$(date +%s)
	# (the timeout is the command'"'"'s: the KVM boot given up does not spend it)
	printf "from-stdin\n" | expect_exit 3 hangs --timeout 10 -- /bin/busybox sh -c "cat; echo to-stderr >&2; exit 3" > out 2> err
	test "$(cat out)" = from-stdin
	expect_grep "^to-stderr\$" err
	expect_grep "^ktpack: warning: KVM cannot boot this kernel (no sign of life within 20 s): using TCG\$" err
	test "$(boots err)" -eq 2
	expect_grep "^ktpack: booting $KERNEL: x86_64, 2 CPUs, 256 MiB, KVM, vmlinux through PVH\$" err
	expect_grep "^ktpack: booting $KERNEL: .*, TCG, vmlinux through PVH (not KVM: it could not boot this kernel: no sign of life within 20 s)\$" err
	# bounded: the KVM boot was given up at its bound, not after 180 s
	test $(($(date +%s) - start)) -lt 150
	printf "probe\nkvm\ntcg\n" > want
	cmp want qemu.log
	# remembered: the next run goes to TCG at once, without a warning
	: > qemu.log
	hangs -- /bin/busybox echo again > out 2> err
	test "$(cat out)" = again
	test "$(boots err)" -eq 1
	expect_grep "TCG, vmlinux through PVH (not KVM: it did not boot this kernel: no sign of life within 20 s)\$" err
	not grep -q warning err
	echo tcg > want
	cmp want qemu.log
	# --accel kvm tries again, and fails within the bound with the reason
	expect_exit 125 hangs --accel kvm -- /bin/busybox echo never > out 2> err
	test ! -s out
	expect_grep "^ktpack: KVM cannot boot this kernel: no sign of life within 20 s\$" err
	# a KVM that boots it clears the verdict: auto uses KVM again
	KT_FAKE_KVM=works hangs --accel kvm -- /bin/busybox echo kvm > out 2> err
	test "$(cat out)" = kvm
	expect_grep ", KVM, vmlinux through PVH\$" err
	: > qemu.log
	KT_FAKE_KVM=works hangs -- /bin/busybox echo auto > out 2> err
	test "$(cat out)" = auto
	test "$(boots err)" -eq 1
	expect_grep ", KVM, vmlinux through PVH\$" err
	echo kvm > want
	cmp want qemu.log
'

test_expect_success KERNEL,QEMU,KVMDEV 'cold runs at once wait for one probe and one trial boot; one says it' '
	KTSTR_CACHE_DIR="$TRASH/cache"
	export KT_QEMU_LOG="$PWD/qemu.log"
	for i in 1 2 3; do
		hangs -- /bin/busybox echo run$i > out$i 2> err$i &
	done
	# a run waiting for the trial stops at its first Ctrl-C
	sleep 3
	"$KTPACK" run --kernel "$KERNEL" --qemu "$HANGS" -- /bin/true 2> err4 &
	p4=$!
	sleep 2
	kill -INT $p4
	expect_exit 130 wait $p4
	expect_grep "^ktpack: waiting for another run to be done trying this kernel under KVM (at most 90 s)\$" err4
	expect_grep "^ktpack: interrupted: nothing was booted\$" err4
	wait
	for i in 1 2 3; do test "$(cat out$i)" = run$i; done
	test "$(cat err1 err2 err3 | grep -c "^ktpack: warning: KVM cannot boot this kernel")" -eq 1
	test "$(cat err1 err2 err3 | grep -c "^ktpack: waiting for another run to be done trying this kernel under KVM")" -eq 2
	test "$(grep -c "^probe\$" qemu.log)" -eq 1
	test "$(grep -c "^kvm\$" qemu.log)" -eq 1
	test "$(grep -c "^tcg\$" qemu.log)" -eq 3
	test -z "$(ls -A "$KTSTR_CACHE_DIR" | grep "^\.")"
'

test_expect_success KERNEL,QEMU 'QEMU'"'"'s own error ends the run at once, with its words' '
	start=$(date +%s)
	expect_exit 125 "$KTPACK" run --kernel "$KERNEL" --accel tcg \
		--qemu-opt -option-rom --qemu-opt "$PWD/no-such-rom.bin" -- /bin/true > out 2> err
	expect_grep "^ktpack: QEMU failed: Could not open option rom .*no-such-rom.bin.: No such file or directory\$" err
	test $(($(date +%s) - start)) -lt 60
	expect_exit 125 "$KTPACK" run --kernel "$KERNEL" --accel tcg --qemu-opt -device \
		--qemu-opt no-such-device -- /bin/true 2> err
	expect_grep "^ktpack: QEMU failed: qemu-system-x86_64: -device no-such-device: .no-such-device. is not a valid device model name\$" err
'

# A shell script's function: hide DIR [FILE...] bind-mounts over DIR a
# copy of it without FILE (run in a mount namespace of its own).
HIDE='hide() {
	d=$1
	shift
	mkdir -p "hidden$d"
	cp -a "$d/." "hidden$d/"
	for f; do rm -f "hidden$d/$f"; done
	mount --bind "hidden$d" "$d"
}'

test_expect_success KERNEL,QEMU,ROOT,MOUNT 'missing firmware and TCG module are named before QEMU starts, with their packages' '
	cat > pvh.sh <<-EOF
	$HIDE
	hide /usr/share/qemu pvh.bin linuxboot_dma.bin
	"$KTPACK" run --kernel "$KERNEL" --accel tcg -- /bin/true 2> err1; echo \$? > st1
	"$KTPACK" run --kernel "$KERNEL" --accel tcg --no-pvh -- /bin/true 2> err2; echo \$? > st2
	"$KTPACK" doctor --kernel "$KERNEL" > doctor; echo \$? > st3
	EOF
	unshare -m sh pvh.sh
	test "$(cat st1)" -eq 125
	expect_grep "^ktpack: QEMU.s firmware is missing: pvh.bin (Debian: qemu-system-data); .* looks in .*/share/qemu" err1
	test "$(wc -l < err1)" -eq 1
	test "$(cat st2)" -eq 125
	expect_grep "^ktpack: QEMU.s firmware is missing: linuxboot_dma.bin (Debian: qemu-system-data);" err2
	test "$(cat st3)" -eq 1
	expect_grep "^missing  firmware  x86_64   pvh.bin .*(Debian: apt-get install qemu-system-data)\$" doctor
	expect_grep "^x86_64 guests cannot run here" doctor
	# without pvh.bin alone, the bzImage boots, and says why
	cat > bz.sh <<-EOF
	$HIDE
	hide /usr/share/qemu pvh.bin
	"$KTPACK" run --kernel "$KERNEL" --accel tcg -- /bin/busybox echo bz > out 2> err; echo \$? > st
	EOF
	unshare -m sh bz.sh
	test "$(cat st)" -eq 0
	test "$(cat out)" = bz
	expect_grep "^ktpack: warning: QEMU.s firmware is missing: pvh.bin (Debian: qemu-system-data); .*: the bzImage boots, without PVH\$" err
	expect_grep "^ktpack: booting $KERNEL: x86_64, 2 CPUs, 256 MiB, TCG\$" err
	moddir=$(dirname "$(find /usr/lib/x86_64-linux-gnu/qemu -name "accel-tcg-x86_64.so" | head -n 1)")
	if [ "$moddir" != . ]; then
		cat > mod.sh <<-EOF
		$HIDE
		hide $moddir accel-tcg-x86_64.so
		"$KTPACK" run --kernel "$KERNEL" --accel tcg -- /bin/true 2> err; echo \$? > st
		EOF
		unshare -m sh mod.sh
		test "$(cat st)" -eq 125
		expect_grep "^ktpack: QEMU.s TCG module accel-tcg-x86_64.so is missing (looked in .*; Debian: qemu-system-common)\$" err
	fi
'

test_expect_success KERNEL,QEMU,ARM64LIBS 'a folder of foreign programs packs as data; a foreign command is refused by name' '
	mkdir -p fw
	cp "$CRC_ARM64" fw/arm-prog
	echo data > fw/plain
	KTPACK_DEBUG=1 "$KTPACK" run --kernel "$KERNEL" --accel tcg --include "$PWD/fw:/fw" \
		-- /bin/busybox sha256sum /fw/arm-prog > out 2> err
	test "$(cut -d" " -f1 out)" = "$(sha256sum < fw/arm-prog | cut -d" " -f1)"
	test "$(grep -c "is an aarch64 program: packed as data" err)" -eq 1
	# no closure came with it: the arm64 loader is not in the guest
	"$KTPACK" run --kernel "$KERNEL" --accel tcg --include "$PWD/fw:/fw" \
		-- /bin/busybox ls /lib/ld-linux-aarch64.so.1 > out 2>&1 || true
	not grep -q "^/lib/ld-linux-aarch64.so.1\$" out
	expect_exit 125 "$KTPACK" run --kernel "$KERNEL" --include "$PWD/fw:/fw" -- /fw/arm-prog 2> err
	expect_grep "^ktpack: .$PWD/fw/arm-prog. is an aarch64 program: the guest is x86_64\$" err
	not grep -q booting err
	expect_exit 125 "$KTPACK" run --kernel "$KERNEL" --include "$CRC_ARM64:/usr/bin/armcrc" -- armcrc 2> err
	expect_grep "is an aarch64 program: the guest is x86_64\$" err
	# named through a link in the archive
	ln -s arm-prog fw/link
	expect_exit 125 "$KTPACK" run --kernel "$KERNEL" --include "$PWD/fw:/fw" -- /fw/link 2> err
	expect_grep "^ktpack: .$PWD/fw/arm-prog. is an aarch64 program: the guest is x86_64\$" err
'

test_expect_success KERNEL,QEMU 'ktpack doctor says what a run has here, for people and for programs' '
	"$KTPACK" doctor --kernel "$KERNEL" > out
	expect_grep "^x86_64 guests can run here, under " out
	expect_grep "^ok       system    -        /proc " out
	expect_grep "^ok       qemu      x86_64   qemu-system-x86_64  .* (QEMU [0-9]" out
	expect_grep "^ok       firmware  x86_64   pvh.bin " out
	expect_grep "^ok       kernel    x86_64   $KERNEL  x86_64 kernel " out
	expect_grep "^ok       blobs     x86_64   init " out
	not grep -q "^missing" out
	"$KTPACK" doctor --json > j
	python3 -c "import json; d = json.load(open(\"j\")); assert d[\"ok\"] is True; assert any(c[\"name\"] == \"pvh.bin\" and c[\"state\"] == \"ok\" for c in d[\"checks\"])"
	expect_exit 1 "$KTPACK" doctor --kernel /etc/passwd > out
	expect_grep "^x86_64 guests cannot run here" out
	expect_grep "^missing  kernel    -        /etc/passwd  .*is not a Linux kernel image" out
	expect_exit 1 env PATH=/nonexistent "$KTPACK" doctor > out
	expect_grep "^missing  qemu      x86_64   qemu-system-x86_64  .* (Debian: apt-get install qemu-system-x86)\$" out
	expect_exit 2 "$KTPACK" doctor --bogus 2> err
'

test_expect_success KERNEL,QEMU,KVMDEV 'ktpack doctor remembers what runs found of KVM, and --probe asks again' '
	KTSTR_CACHE_DIR="$TRASH/cache"
	hangs --accel tcg -- /bin/true 2> /dev/null
	"$KTPACK" doctor --kernel "$KERNEL" --qemu "$HANGS" > out
	expect_grep "^note     kvm       x86_64   probe " out
	expect_grep "^x86_64 guests can run here, under KVM when it proves to work, else TCG\$" out
	"$KTPACK" doctor --kernel "$KERNEL" --qemu "$HANGS" --probe > out 2> err
	expect_grep "^ok       kvm       x86_64   probe               a boot sector runs under KVM\$" out
	expect_grep "^warn     kvm       x86_64   boot                KVM cannot boot $KERNEL (no sign of life within 20 s): its runs use TCG\$" out
	expect_grep "^x86_64 guests can run here, under TCG\$" out
	"$KTPACK" doctor --kernel "$KERNEL" --qemu "$HANGS" > out
	expect_grep "^warn     kvm       x86_64   boot .*, remembered: its runs use TCG\$" out
'

test_expect_success STATIC,ROOT 'ktpack doctor in a root holding only ktpack names exactly what is missing' '
	mkdir -p root
	cp "$KT_OUT/static/ktpack" root/ktpack
	expect_exit 1 env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot root /ktpack doctor > out
	grep "^missing" out | cut -c1-46 | sed "s/ *\$//" > got
	cat > want <<-\EOF
	missing  system    -        /proc
	missing  system    -        work folder
	missing  qemu      x86_64   qemu-system-x86_64
	EOF
	diff want got
	expect_grep "^missing  system    -        work folder  *cannot create a work folder in ./tmp. (TMPDIR): No such file or directory\$" out
	expect_grep "^note     qemu      aarch64  qemu-system-aarch64 .*: no guests of this architecture (Debian: apt-get install qemu-system-arm)\$" out
'

test_expect_success KERNEL,QEMU,NESTED 'KVM for real: a TCG guest with SVM boots the kernel under KVM, with the channel, stdin, status and a trace' '
	vmlinux=$(ls "$KTSTR_CACHE_DIR"/vmlinux-* 2> /dev/null | head -n 1)
	if [ -z "$vmlinux" ]; then
		"$KTPACK" run --kernel "$KERNEL" --accel tcg -- /bin/true
		vmlinux=$(ls "$KTSTR_CACHE_DIR"/vmlinux-* | head -n 1)
	fi
	v=$("$FIXTURES/channel-tree.sh" "$KERNEL" mods)
	modules=$(find /usr/lib/x86_64-linux-gnu/qemu -name "accel-tcg-x86_64.so" | head -n 1)
	cat > inner.sh <<-EOF
	export KTPACK_DEBUG=1
	printf "in-nested\n" | /bin/ktpack run --kernel /k/vmlinux --modules /k/mods/$v --accel kvm \
		--wprof --wprof-args "-d 1 --fixture-size=100000" --trace-out /tmp/t.pb -- \
		/bin/busybox sh -c "cat; echo nested-err >&2; exit 5" > /tmp/out 2> /tmp/err
	echo "status=\$?"
	cat /tmp/out
	/bin/busybox sed "s/^/inner: /" /tmp/err
	/bin/busybox sha256sum /tmp/t.pb
	EOF
	"$KTPACK" run --kernel "$KERNEL" --accel tcg -m 2G --module kvm_amd \
		--include "$KTPACK_FIX:/bin/ktpack" --include "$(command -v qemu-system-x86_64)" \
		--include /usr/share/qemu --include /usr/share/seabios \
		${modules:+--include "$modules"} \
		--include "$vmlinux:/k/vmlinux" --include "$PWD/mods:/k/mods" \
		--include "$PWD/inner.sh:/inner.sh" -- /bin/busybox sh /inner.sh > out 2> err
	# (what both levels said, when the inner run did not end as it must)
	grep -q "^status=5\$" out && not grep -q "inner: ktpack: booting .*TCG" out ||
		{ cat out err; false; }
	expect_grep "^status=5\$" out
	expect_grep "^in-nested\$" out
	expect_grep "^inner: nested-err\$" out
	expect_grep "^inner: ktpack: booting /k/vmlinux: x86_64, 2 CPUs, [0-9]* MiB, KVM, vmlinux through PVH\$" out
	not grep -q "inner: ktpack: booting .*TCG" out
	expect_grep "^inner: ktpack: debug: KVM: the guest.s init runs after [0-9]* ms\$" out
	not grep -q "inner: ktpack: warning: the channel fell back" out
	"$FIXTURE" -d 1 --fixture-size=100000 -T host.pb > /dev/null
	expect_grep "^$(sha256sum < host.pb | cut -d" " -f1)  /tmp/t.pb\$" out
'

test_done
