#!/bin/sh
# Hostile conditions without a VM: other users on the machine, odd ways of
# starting ktpack, FIFOs and devices as paths, odd names, truncation.  The
# cases that need another user run as uid 65534 with setpriv.
. "$(dirname "$0")/lib.sh"
test_lazy_prereq SETPRIV 'command -v setpriv && test "$(id -u)" -eq 0'
as_nobody() { setpriv --reuid 65534 --regid 65534 --clear-groups "$@"; }
# A program whose PT_INTERP is $2 (at most 27 bytes), from /bin/true.
with_interp() {
	python3 -c "
import sys
b = open('/bin/true', 'rb').read()
old = b'/lib64/ld-linux-x86-64.so.2'
new = sys.argv[2].encode()
assert len(new) <= len(old) and old in b
open(sys.argv[1], 'wb').write(b.replace(old, new + bytes(len(old) - len(new)), 1))
" "$1" "$2"
	chmod +x "$1"
}

test_expect_success SETPRIV 'a cache folder inside a folder other users can write is never used' '
	mkdir -m 0777 shared
	KTSTR_CACHE_DIR="$PWD/shared/cache" "$KTPACK" env > out 2> err
	expect_grep "skipping cache folder .$PWD/shared/cache.: its parent .shared. is writable by other users" err
	not grep -q shared out
	test ! -e shared/cache
	# sticky, as /tmp: another user cannot move our folder away
	chmod 1777 shared
	KTSTR_CACHE_DIR="$PWD/shared/cache" "$KTPACK" env > out
	expect_grep "$PWD/shared/cache/busybox-" out
	not as_nobody mv shared/cache shared/moved 2> /dev/null
	test -d shared/cache
'

test_expect_success 'a symlink among the parents is not followed' '
	mkdir -m 0700 real
	ln -s "$PWD/real" link
	KTSTR_CACHE_DIR="$PWD/link/cache" "$KTPACK" env > out 2> err
	expect_grep "its parent .link. is a symlink" err
	test -z "$(ls -A real)"
'

test_expect_success 'only the last folder is ever created' '
	KTSTR_CACHE_DIR="$PWD/typo/deeper/cache" HOME="$PWD/nohome" "$KTPACK" env > out 2> err
	test ! -e typo
	test ! -e nohome
	expect_grep "$TMPDIR/ktstr-$(id -u)/busybox-" out
	# no TMPDIR at all: /tmp is never made
	expect_exit 1 env -u KTSTR_CACHE_DIR HOME=/nonexistent-home TMPDIR=/nonexistent-tmp "$KTPACK" env 2> err
	test ! -e /nonexistent-home
	test ! -e /nonexistent-tmp
	expect_grep "set KTSTR_CACHE_DIR to a private folder" err
'

test_expect_success 'the guest init is never installed or exported on the host' '
	# (That it refuses to run but as PID 1 is tested in a guest, t0600:
	# it is never run on the host.)
	"$KTPACK" env > out
	not grep -q INIT out
	test -z "$(ls "$KTSTR_CACHE_DIR" | grep "^init")"
	"$KTPACK" blobs > out
	expect_grep "^init .*(guest only)\$" out
'

test_expect_success 'started through the loader, the cache gets the blob, not the loader' '
	/lib64/ld-linux-x86-64.so.2 "$KTPACK" env > out
	eval "$(cat out)"
	cmp "$KTSTR_BUSYBOX_PATH" /bin/busybox
	# a cached file of the right name, size and mode but other bytes
	head -c "$(stat -c %s /bin/busybox)" /dev/zero > "$KTSTR_BUSYBOX_PATH"
	unset KTSTR_BUSYBOX_PATH
	"$KTPACK" env > /dev/null
	cmp "$KTSTR_CACHE_DIR"/busybox-* /bin/busybox
	# the middle of it: env --verify finds it and writes it again
	f=$(ls "$KTSTR_CACHE_DIR"/busybox-*)
	printf X | dd of="$f" bs=1 seek=100000 conv=notrunc 2> /dev/null
	cp "$FIXTURE" mywprof
	KTSTR_WPROF_PATH="$PWD/mywprof" "$KTPACK_FIX" env --verify > out 2> err
	expect_grep "^ktpack: warning: .$f. did not hold the embedded busybox: removed\$" err
	cmp "$f" /bin/busybox
	expect_grep "^export KTSTR_BUSYBOX_PATH=.$f.\$" out
	# a path the user chose is still theirs after the reinstall
	expect_grep "^export KTSTR_WPROF_PATH=.$PWD/mywprof.\$" out
'

test_expect_success 'a preset path is exported absolute, as the file that was checked' '
	cp "$FIXTURE" wp
	KTSTR_WPROF_PATH=./wp "$KTPACK" env > out
	expect_grep "^export KTSTR_WPROF_PATH=.$PWD/wp.\$" out
	# "ln/../bb" is real/bb to the kernel, not ./bb
	mkdir -p real/sub
	cp /bin/true real/bb
	printf "#!/bin/sh\necho WRONG\n" > bb
	chmod +x bb
	ln -s real/sub ln
	KTSTR_BUSYBOX_PATH=ln/../bb "$KTPACK" env > out
	expect_grep "^export KTSTR_BUSYBOX_PATH=.$PWD/real/bb.\$" out
	# a preset wprof is checked by the commands that only compute too
	expect_exit 1 env KTSTR_WPROF_PATH=/etc/passwd "$KTPACK" cmdline --wprof 2> err
	expect_grep "not executable" err
'

test_expect_success 'a path an older build exported is not taken for the user'"'"'s choice' '
	mkdir -m 0700 old
	cp /bin/true "old/busybox-$(printf "%064d" 7)"
	KTSTR_BUSYBOX_PATH="$PWD/old/busybox-$(printf "%064d" 7)" "$KTPACK" env > out
	expect_grep "^export KTSTR_BUSYBOX_PATH=.$KTSTR_CACHE_DIR/busybox-" out
'

test_expect_success 'the cache folder is 0700 whatever the umask' '
	(umask 0777; KTSTR_CACHE_DIR="$PWD/um" "$KTPACK" env) > out
	test "$(stat -c %a um)" = 700
	expect_grep "$PWD/um/busybox-" out
'

test_expect_success '-o writes into devices, FIFOs and stdout, follows a symlink' '
	"$KTPACK" initramfs -o /dev/null --no-busybox
	test -c /dev/null
	"$KTPACK" initramfs -o - --no-busybox | cpio -it 2> /dev/null > list
	expect_grep "^init\$" list
	mkfifo fifo
	cat fifo > from-fifo &
	"$KTPACK" initramfs -o fifo --no-busybox
	wait
	test -p fifo
	cpio -it < from-fifo 2> /dev/null | grep -q "^init\$"
	: > real.cpio
	ln -s real.cpio link.cpio
	"$KTPACK" initramfs -o link.cpio --no-busybox
	test -L link.cpio
	cpio -it < real.cpio 2> /dev/null | grep -q "^init\$"
	"$KTPACK" initramfs -o /dev/stdout --no-busybox | cpio -it 2> /dev/null | grep -q "^init\$"
	expect_exit 2 "$KTPACK" initramfs -o "" --no-busybox 2> err
	expect_exit 1 "$KTPACK" initramfs -o "$PWD" --no-busybox 2> err
	expect_grep "cannot write .$PWD.: it is a folder" err
'

test_expect_success ROOT 'an output never keeps set-id bits, nor another user'"'"'s mode, nor replaces their file in a shared folder' '
	# another user'"'"'s set-id file in a sticky folder: refused, untouched
	mkdir -m 1777 shared
	install -m 4755 -o nobody /dev/null shared/t.cpio
	expect_exit 1 "$KTPACK" initramfs --no-busybox -o shared/t.cpio 2> err
	expect_grep "^ktpack: cannot write .shared/t.cpio.: another user.s file in a shared folder\$" err
	test "$(stat -c "%U %a %s" shared/t.cpio)" = "nobody 4755 0"
	# the same through a link of ours
	ln -s shared/t.cpio mine.cpio
	expect_exit 1 "$KTPACK" initramfs --no-busybox -o mine.cpio 2> err
	expect_grep "another user.s file in a shared folder" err
	# a folder of ours: replaced, without its owner'"'"'s mode or set-id bits
	install -m 6777 -o nobody /dev/null theirs.cpio
	(umask 022 && "$KTPACK" initramfs --no-busybox -o theirs.cpio)
	test "$(stat -c "%U %a" theirs.cpio)" = "root 644"
	# ours, set-id: the permission bits stay, the set-id bits go; 000 stays
	install -m 4750 /dev/null own.cpio
	"$KTPACK" initramfs --no-busybox -o own.cpio
	test "$(stat -c "%a" own.cpio)" = 750
	install -m 000 /dev/null none.cpio
	"$KTPACK" initramfs --no-busybox -o none.cpio
	test "$(stat -c "%a" none.cpio)" = 0
	# a group-writable folder and another user'"'"'s 0777 one are shared too
	echo mine > target
	mkdir -m 0775 group
	chgrp nogroup group
	ln -s "$PWD/target" group/alink
	chown -h nobody group/alink
	expect_exit 1 "$KTPACK" initramfs --no-busybox -o group/alink 2> err
	expect_grep "another user.s symlink in a shared folder" err
	mkdir -m 0777 theirs
	chown nobody theirs
	ln -s "$PWD/target" theirs/alink
	chown -h nobody theirs/alink
	expect_exit 1 "$KTPACK" initramfs --no-busybox -o theirs/alink 2> err
	expect_grep "another user.s symlink in a shared folder" err
	# every link of a chain counts, and a FIFO at its end
	ln -s "$PWD/target" shared/hop
	chown -h nobody shared/hop
	ln -s shared/hop chain.cpio
	expect_exit 1 "$KTPACK" initramfs --no-busybox -o chain.cpio 2> err
	expect_grep "^ktpack: cannot write .chain.cpio.: it leads to .shared/hop., another user.s symlink in a shared folder\$" err
	mkfifo -m 622 shared/fifo
	chown nobody shared/fifo
	ln -s shared/fifo tofifo.cpio
	expect_exit 1 "$KTPACK" initramfs --no-busybox -o tofifo.cpio 2> err
	expect_grep "another user.s FIFO in a shared folder" err
	test "$(cat target)" = mine
	# a link to a folder, as a folder of the path, is a hop too: the
	# archive and the trace do not go through it
	mkdir -m 0700 victim
	echo precious > victim/important
	ln -s "$PWD/victim" shared/kl
	chown -h nobody shared/kl
	expect_exit 1 "$KTPACK" initramfs --no-busybox -o shared/kl/important 2> err
	expect_grep "^ktpack: cannot write into .shared/kl.: it leads to .*shared/kl., another user.s symlink in a shared folder\$" err
	expect_exit 125 "$KTPACK_FIX" run --kernel /nonexistent --wprof --trace-out shared/kl/important \
		-- /bin/true 2> err
	expect_grep "another user.s symlink in a shared folder" err
	test "$(cat victim/important)" = precious
	# a file of ours that another user linked into a shared folder gives
	# the new file no mode of its own
	install -m 0666 /dev/null pub.cpio
	ln pub.cpio shared/h.cpio
	(umask 077 && "$KTPACK" initramfs --no-busybox -o shared/h.cpio)
	test "$(stat -c "%a" shared/h.cpio)" = 600
'

test_expect_success ROOT 'a TMPDIR another user could change holds no run: its archive goes to QEMU as a descriptor' '
	mkdir -m 0777 open
	mkdir -m 0700 theirs
	chown nobody theirs
	mkdir -m 1777 sticky
	expect_exit 1 env TMPDIR="$PWD/open" "$KTPACK" doctor > out
	expect_grep "^missing  system    -        work folder  *cannot create a work folder in .$PWD/open. (TMPDIR): it is writable by other users\$" out
	expect_exit 1 env TMPDIR="$PWD/theirs" "$KTPACK" doctor > out
	expect_grep "(TMPDIR): it is owned by another user\$" out
	expect_exit 1 env TMPDIR="$PWD/theirs/sub" "$KTPACK" doctor > out
	expect_grep "(TMPDIR): its parent .theirs. is owned by another user\$" out
	# a shared sticky folder is fine, as /tmp is
	env TMPDIR="$PWD/sticky" "$KTPACK" doctor > out || true
	expect_grep "^ok       system    -        work folder " out
	test -z "$(ls -A sticky)"
	if test -r "${KTSTR_KERNEL:-/var/cache/ktpack/vmlinuz}" && command -v qemu-system-x86_64 > /dev/null; then
		expect_exit 125 env TMPDIR="$PWD/open" "$KTPACK" run \
			--kernel "${KTSTR_KERNEL:-/var/cache/ktpack/vmlinuz}" -- /bin/true 2> err
		expect_grep "^ktpack: cannot create a work folder in .$PWD/open. (TMPDIR): it is writable by other users\$" err
		test -z "$(ls -A open)"
		# the archive is never named by a path in the folder
		"$KTPACK" run --kernel "${KTSTR_KERNEL:-/var/cache/ktpack/vmlinuz}" --accel tcg \
			-- /bin/busybox sh -c "echo up; sleep 4" > out 2> err &
		pid=$!
		i=0
		while ! grep -q up out && [ $i -lt 600 ]; do sleep 0.5; i=$((i + 1)); done
		qemu=$(cut -d" " -f1 /proc/$pid/task/$pid/children)
		tr "\0" "\n" < /proc/$qemu/cmdline | grep -A1 -x -- -initrd | tail -n 1 > initrd
		wait $pid
		expect_grep "^/proc/self/fd/[0-9]*\$" initrd
	fi
'

test_expect_success 'FIFOs never hang a reader: ldd, --ldcache, --kernel, PT_INTERP' '
	mkfifo f
	expect_exit 1 timeout 10 "$KTPACK" ldd f 2> err
	expect_grep "not a regular file" err
	expect_exit 1 timeout 10 "$KTPACK" ldd --ldcache f /bin/true 2> err
	expect_grep "not a regular file" err
	expect_exit 125 timeout 10 "$KTPACK" run --kernel f -- /bin/true 2> err
	expect_grep "^ktpack: kernel .f.: not a regular file\$" err
	ff=/tmp/ktfifo.$$
	mkfifo "$ff"
	with_interp app "$ff"
	expect_exit 1 timeout 10 "$KTPACK" ldd app 2> err
	rm -f "$ff"
	expect_grep "interpreter is not an ELF file (needed by app)" err
	with_interp app2 /etc/passwd
	expect_exit 1 "$KTPACK" ldd app2 2> err
	expect_grep "^ktpack: /etc/passwd: interpreter is not an ELF file (needed by app2)\$" err
'

test_expect_success 'a DT_NEEDED path into /proc is never packed' '
	echo "int f(void) { return 1; }" > x.c
	gcc -shared -fPIC -o libx.so x.c -Wl,-soname,/proc/self/exe
	echo "int main(void) { return 0; }" > app.c
	gcc -o app app.c -Wl,--no-as-needed "$PWD/libx.so"
	expect_exit 1 "$KTPACK" ldd app 2> err
	expect_grep "^ktpack: /proc/self/exe: not found (needed by app)\$" err
'

test_expect_success 'includes: a symlink to a folder brings the folder; pseudo-files and the trailer name are refused' '
	mkdir -p d/sub
	echo data > d/sub/file
	ln -s "$PWD/d" dl
	"$KTPACK" initramfs -o a.cpio --no-busybox --include "$PWD/dl:/opt/d"
	cpio -it < a.cpio 2> /dev/null > list
	expect_grep "^opt/d/sub/file\$" list
	expect_exit 1 "$KTPACK" initramfs -o b.cpio --no-busybox --include /proc/cpuinfo:/cpuinfo 2> err
	expect_grep "is a pseudo-file" err
	expect_exit 1 "$KTPACK" initramfs -o b.cpio --no-busybox --include "$PWD/d/sub/file:/TRAILER!!!" 2> err
	expect_grep "invalid guest path ./TRAILER!!!." err
	test ! -e b.cpio
	# a relative HOST gets an absolute guest path without ".."
	mkdir w
	(cd w && "$KTPACK" initramfs -o ../c.cpio --no-busybox --include ../d/sub/file)
	cpio -it < c.cpio 2> /dev/null | grep -q "^${PWD#/}/d/sub/file\$"
'

test_expect_success 'messages point at what the user typed, on one line' '
	expect_exit 2 "$KTPACK" blobs -xy 2> err
	expect_grep "^ktpack blobs: invalid option .-x." err
	expect_exit 2 "$KTPACK" memory --cpus 2> err
	expect_grep "^ktpack memory: option .--cpus. needs a value" err
	expect_exit 125 "$KTPACK" run --kernel /nonexistent -- ls -h 2> err
	expect_grep "cannot open kernel ./nonexistent." err
	expect_exit 1 "$KTPACK" ldd "$(printf "a\nb")" 2> err
	test "$(wc -l < err)" -eq 1
	expect_grep "a\\\\nb" err
	long=$(printf "%0200d" 0)
	p="$PWD/$long/$long/$long/$long/$long/x"
	expect_exit 1 "$KTPACK" ldd "$p" 2> err
	expect_grep "No such file or directory\$" err
'

test_expect_success 'ldd --json stays valid JSON for any file name' '
	f=$(printf "bad\377name")
	cp /bin/true "$f"
	"$KTPACK" ldd --json "$f" > out
	python3 -c "import json; json.load(open(\"out\", encoding=\"utf-8\"))"
'

test_expect_success 'cmdline, memory and initramfs need no cache folder; env says how to get one' '
	export KTSTR_CACHE_DIR="$PWD/no/such" HOME=/nonexistent-home TMPDIR=/nonexistent-tmp
	test "$("$KTPACK_FIX" memory --cpus 2 --wprof)" = 2048
	"$KTPACK_FIX" initramfs -o a.cpio
	cpio -it < a.cpio 2> /dev/null | grep -q "^bin/wprof\$"
	expect_exit 1 "$KTPACK_FIX" env 2> err
	expect_grep "^ktpack: no usable cache folder (first tried .$PWD/no/such.: its parent .no.: No such file or directory); set KTSTR_CACHE_DIR to a private folder\$" err
	"$KTPACK_FIX" cmdline --wprof > out
	expect_grep "KTSTR_WPROF_ARGS=" out
	expect_exit 1 "$KTPACK_FIX" cmdline --wprof-args "-d -1" 2> err
	expect_grep "^ktpack: wprof option .-d.: invalid duration .-1.\$" err
'

test_expect_success 'an include the guest would mount over is a usage error before anything starts' '
	for g in /tmp/x /proc /sys/kernel/y /dev/z /run/a /run/../tmp/b; do
		expect_exit 2 "$KTPACK" run --kernel /nonexistent --include "/etc/hostname:$g" -- true 2> err
		expect_grep "the guest mounts over /[a-z]*, which would hide it" err
	done
	expect_exit 125 "$KTPACK" run --kernel /nonexistent --include /etc/hostname:/runner -- true 2> err
	expect_grep "cannot open kernel" err
'

test_expect_success 'an include into /ktpack, where init reads its orders, is refused before anything starts' '
	for g in /ktpack /ktpack/interactive /ktpack/cmd /opt/../ktpack/x; do
		expect_exit 2 "$KTPACK" run --kernel /nonexistent --include "/etc/hostname:$g" -- true 2> err
		expect_grep "^ktpack: include ./etc/hostname:$g.: /ktpack holds init.s control files, which it would override\$" err
	done
	expect_exit 125 "$KTPACK" run --kernel /nonexistent --include /etc/hostname:/ktpack2 -- true 2> err
	expect_grep "cannot open kernel" err
'

test_expect_success ROOT 'an include that is a symlink of another user in a shared folder is refused' '
	echo secret > secret
	echo mine > mine
	mkdir -m 1777 sticky
	ln -s "$PWD/secret" sticky/link
	chown -h nobody sticky/link
	expect_exit 1 "$KTPACK" initramfs -o a.cpio --no-busybox --include "$PWD/sticky/link:/x" 2> err
	expect_grep "^ktpack: cannot include .$PWD/sticky/link.: another user.s symlink in a shared folder\$" err
	test "$(wc -l < err)" -eq 1
	test ! -e a.cpio
	# a hop of the path, in a folder its group can write
	mkdir -m 0775 group
	ln -s "$PWD/secret" group/hop
	chown -h nobody group/hop
	ln -s "$PWD/group/hop" ours
	expect_exit 1 "$KTPACK" initramfs -o a.cpio --no-busybox --include "$PWD/ours:/x" 2> err
	expect_grep "^ktpack: cannot include .$PWD/ours.: it leads to .$PWD/group/hop., another user.s symlink in a shared folder\$" err
	test ! -e a.cpio
	# our own symlink there, and one of another user in our private folder, are followed
	ln -s "$PWD/mine" sticky/own
	ln -s "$PWD/mine" theirs
	chown -h nobody theirs
	"$KTPACK" initramfs -o a.cpio --no-busybox --include "$PWD/sticky/own:/own" --include "$PWD/theirs:/theirs"
	mkdir root
	(cd root && unpack ../a.cpio)
	cmp root/own mine
	cmp root/theirs mine
'

test_expect_success 'a guest command over the limit is refused before anything starts' '
	# 20 arguments of 60000 bytes: within execve'"'"'s limits, over the guest'"'"'s
	a=$(head -c 60000 /dev/zero | tr "\0" a)
	set -- "$a" "$a" "$a" "$a" "$a" "$a" "$a" "$a" "$a" "$a"
	expect_exit 2 "$KTPACK" run --kernel /nonexistent -- echo "$@" "$@" 2> err
	expect_grep "over the guest.s limit of 1048576 bytes" err
'

test_expect_success 'the trace never goes into the command output by any name; a bad --trace-out is refused first' '
	run_trace() { "$KTPACK_FIX" run --kernel /nonexistent --wprof --trace-out "$@" -- true; }
	for t in - /dev/stdout /dev/fd/1 /proc/self/fd/1; do
		expect_exit 125 run_trace "$t" > out 2> err
		expect_grep "^ktpack: the trace cannot go to .$t.: the command.s standard output goes there\$" err
	done
	for t in /dev/stderr /dev/fd/2 /proc/self/fd/2; do
		expect_exit 125 run_trace "$t" 2> err
		expect_grep "^ktpack: the trace cannot go to .$t.: the command.s standard error goes there\$" err
	done
	# the file stdout was sent to, through a link; a pipe
	ln -s out link
	expect_exit 125 run_trace link > out 2> err
	expect_grep "^ktpack: the trace cannot go to .link.: the command.s standard output goes there\$" err
	{ run_trace /dev/fd/1 2> err || echo $? > rc; } | cat > /dev/null
	test "$(cat rc)" = 125
	expect_grep "standard output goes there" err
	# /dev/null mixes with nothing: the run goes on (to the kernel here)
	expect_exit 125 run_trace /dev/fd/1 > /dev/null 2> err
	expect_grep "^ktpack: cannot open kernel" err
	expect_exit 2 run_trace "" 2> err
	expect_grep "^ktpack run: --trace-out: an empty path" err
	expect_exit 125 run_trace /proc/self/fd/99 2> err
	expect_grep "^ktpack: cannot write ./proc/self/fd/99.: not an open descriptor\$" err
	expect_exit 125 run_trace /dev/fd/0 < /dev/null 2> err
	expect_grep "^ktpack: cannot write ./dev/fd/0.: a descriptor open only for reading\$" err
	expect_exit 125 run_trace nodir/t.pb 2> err
	expect_grep "^ktpack: cannot write .nodir/t.pb.: No such file or directory\$" err
	test ! -e wprof.pb
'

test_done
