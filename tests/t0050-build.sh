#!/bin/sh
# The build: how blobs are embedded (objcopy), what the linked binary looks
# like, rebuilds when a blob changes, and the static build.
. "$(dirname "$0")/lib.sh"
TOP=$(pwd)

test_expect_success 'GNU_STACK is not executable, dynamic and static' '
	for b in "$KTPACK" "$KTPACK_FIX" "$KT_OUT/static/ktpack"; do
		readelf -lW "$b" | grep GNU_STACK > stack
		not grep -q "RWE" stack
		grep -q " RW " stack
	done
'

test_expect_success 'a blob sits in a read-only .rodata.<name> aligned to 4096' '
	readelf -SW "$KT_OUT/blobs/busybox.o" > sec
	grep -E "\.rodata\.busybox +PROGBITS .* A +0 +0 +4096\$" sec
	readelf -SW "$KT_OUT/blobs/busybox.o" | grep -q "\.note\.GNU-stack"
'

test_expect_success 'symbols are _binary_<name>_start/_end and no _size' '
	nm "$KT_OUT/fixture/blobs/wprof.o" > syms
	grep -q " _binary_wprof_start\$" syms
	grep -q " _binary_wprof_end\$" syms
	not grep -q _size syms
'

test_expect_success 'the blob starts page-aligned in the linked binary' '
	addr=$(nm "$KTPACK" | sed -n "s/^\([0-9a-f]*\) . _binary_busybox_start\$/\1/p")
	test -n "$addr"
	test $((0x$addr % 4096)) -eq 0
'

test_expect_success 'the static build needs no loader and installs its blobs' '
	readelf -lW "$KT_OUT/static/ktpack" > phdrs
	not grep -q INTERP phdrs
	"$KT_OUT/static/ktpack" env > out
	eval "$(cat out)"
	cmp "$KTSTR_BUSYBOX_PATH" /bin/busybox
'

test_expect_success ROOT 'alone in a busybox root, the static ktpack packs a wprof that runs on its own libraries' '
	mkdir -p root/bin root/tmp
	cp /bin/busybox root/bin/busybox
	ln -s busybox root/bin/sh
	cp "$KT_OUT/static/ktpack" root/ktpack
	# no /proc, no /lib, no HOME: nothing of the host
	chroot=$(command -v chroot)
	env -i "$chroot" root /ktpack blobs > out
	expect_grep "^wprof_libs .*(guest only)\$" out
	env -i TMPDIR=/tmp "$chroot" root /ktpack env > out
	expect_grep "^export KTSTR_WPROF_PATH=./tmp/ktstr-0/wprof-" out
	env -i "$chroot" root /ktpack initramfs -o /x.cpio
	mkdir un
	(cd un && cpio -id < ../root/x.cpio 2> /dev/null)
	# its wprof (the fixture, dynamic) runs in the archive alone, which
	# got its libraries from the build, not from this root
	test -e un/usr/lib/x86_64-linux-gnu/libelf.so.1
	env -i "$chroot" un /bin/wprof -d 1 offline > out
	expect_grep "^wprof-fixture: done\$" out
'

# prog NAME WORD: an ELF program printing WORD.
prog() {
	echo "int puts(const char *); int main(void) { puts(\"$2\"); return 0; }" > "$1.c"
	gcc -o "$1" "$1.c"
}
# build OUT [VAR=VALUE...]: ktpack built into OUT.
build() {
	_o=$1
	shift
	make -C "$TOP" -s OUT="$_o" "$@" "$_o/ktpack" > /dev/null
}
# the digest of this machine's slot NAME
digest() { "$1" blobs | sed -n "s/^$2 *$(uname -m) *[0-9]* *\([0-9a-f]\{64\}\).*/\1/p"; }

test_expect_success 'a blob follows its content: new bytes, an older mtime, a symlink retargeted' '
	prog one one
	prog two two
	cp one w
	build "$TRASH/o" WPROF="$TRASH/w" BUSYBOX=
	test "$(digest "$TRASH/o/ktpack" wprof)" = "$(sha256sum < one | cut -d" " -f1)"
	"$TRASH/o/ktpack" blobs | grep -q "^busybox .*not embedded"
	# new bytes with an mtime older than the last build (cp -p, tar, rsync)
	touch -d "2 days ago" two
	cp -p two w
	build "$TRASH/o" WPROF="$TRASH/w" BUSYBOX=
	test "$(digest "$TRASH/o/ktpack" wprof)" = "$(sha256sum < two | cut -d" " -f1)"
	test "$("$TRASH/o/ktpack" exec -- sh -c "\"\$KTSTR_WPROF_PATH\"")" = two
	# a symlink pointed at another file
	ln -sf "$PWD/one" l
	build "$TRASH/o" WPROF="$TRASH/l" BUSYBOX=
	test "$(digest "$TRASH/o/ktpack" wprof)" = "$(sha256sum < one | cut -d" " -f1)"
	ln -sf "$PWD/two" l
	build "$TRASH/o" WPROF="$TRASH/l" BUSYBOX=
	test "$(digest "$TRASH/o/ktpack" wprof)" = "$(sha256sum < two | cut -d" " -f1)"
'

test_expect_success 'a blob path may hold blanks and quotes; a non-ELF or foreign blob is refused' '
	mkdir "a b'"'"'c"
	prog "a b'"'"'c/w" spaced
	build "$TRASH/o" WPROF="$TRASH/a b'"'"'c/w" BUSYBOX=
	test "$("$TRASH/o/ktpack" exec -- sh -c "\"\$KTSTR_WPROF_PATH\"")" = spaced
	printf x > tiny
	expect_exit 2 make -C "$TOP" -s OUT="$TRASH/o2" WPROF="$TRASH/tiny" BUSYBOX= "$TRASH/o2/ktpack" 2> err
	expect_grep "WPROF=$TRASH/tiny: not an ELF file" err
	test ! -e "$TRASH/o2/ktpack"
	echo "int f(void) { return 0; }" > so.c && gcc -shared -fPIC -o so.so so.c
	expect_exit 2 make -C "$TOP" -s OUT="$TRASH/o2" WPROF="$TRASH/so.so" BUSYBOX= "$TRASH/o2/ktpack" 2> err
	expect_grep "WPROF=$TRASH/so.so: a shared library (no entry point), not a program" err
	# an arm64 slot takes arm64 programs only
	expect_exit 2 make -C "$TOP" -s OUT="$TRASH/o2" WPROF= WPROF_ARM64=/bin/true BUSYBOX= "$TRASH/o2/ktpack" 2> err
	expect_grep "WPROF_ARM64=/bin/true: an ELF file for Advanced Micro Devices X86-64, not AArch64" err
	test ! -e "$TRASH/o2/ktpack"
'

test_expect_success 'without the cross tools the arm64 slots are empty, and say what fills them' '
	build "$TRASH/n" CROSS_CC_ARM64= BUSYBOX_ARM64= BUSYBOX=
	"$TRASH/n/ktpack" blobs > out
	expect_grep "^init  *aarch64  *0  *not embedded  *(guest only)  (make INIT_ARM64=...)\$" out
	expect_grep "^busybox  *aarch64  *0  *not embedded  *(guest only)  (make BUSYBOX_ARM64=...)\$" out
	expect_grep "^wprof  *aarch64  *0  *not embedded  *(guest only)  (make WPROF_ARM64=...)\$" out
	expect_grep "^init  *$(uname -m)  *[1-9][0-9]*  *[0-9a-f]\{64\}  *(guest only)\$" out
	"$TRASH/n/ktpack" blobs --json > j
	python3 -c "import json,sys; b=json.load(open(\"j\")); assert {(x[\"name\"], x[\"arch\"]) for x in b} >= {(\"init\",\"aarch64\"),(\"busybox\",\"aarch64\"),(\"wprof\",\"x86_64\")}, b"
'

test_expect_success 'the switches are remembered: install after STATIC=1 installs what was built' '
	build "$TRASH/s" STATIC=1
	make -C "$TOP" -s OUT="$TRASH/s" install DESTDIR="$TRASH/d" PREFIX=/p > /dev/null
	readelf -lW "$TRASH/d/p/bin/ktpack" > ph
	not grep -q INTERP ph
	cmp "$TRASH/s/ktpack" "$TRASH/d/p/bin/ktpack"
	build "$TRASH/s" STATIC=
	readelf -lW "$TRASH/s/ktpack" | grep -q INTERP
'

test_expect_success 'OUT must not be, hold or sit in a folder of the sources' '
	ln -s "$TOP" top
	for o in . "$TOP" "$TOP/" src blobs src/guest .. / "$TRASH/top" "$TRASH/top/" \
		"$TRASH/top/src" out/../src; do
		expect_exit 2 make -C "$TOP" -n OUT="$o" clean 2> err
		expect_grep "OUT holds only what make builds" err
	done
	expect_exit 2 make -C "$TOP" -n OUT="$TRASH/a b" clean 2> err
	expect_grep "without blanks" err
	test -f "$TOP/blobs/blobs.mk"
'

test_expect_success 'make clean removes what the build made and nothing else of OUT' '
	mkdir keep && echo mine > keep/mine
	make -C "$TOP" -s OUT="$TRASH/keep" "$TRASH/keep/libktpack.a" > /dev/null
	make -C "$TOP" -s OUT="$TRASH/keep" clean
	test "$(ls keep)" = mine
	build "$TRASH/gone"
	make -C "$TOP" -s OUT="$TRASH/gone" clean
	test ! -e gone
	# a folder no build marked loses nothing, even with names a build uses
	mkdir -p home/tests && echo mine > home/tests/mine && echo x > home/ktpack
	expect_exit 2 make -C "$TOP" -s OUT="$TRASH/home" clean 2> err
	expect_grep "OUT=$TRASH/home holds no build of ktpack (no .ktpack-out): nothing removed" err
	test "$(cat home/tests/mine home/ktpack)" = "mine
x"
	for o in "q'"'"'x" "h#x" "p(x" "pc%x"; do
		expect_exit 2 make -C "$TOP" -n OUT="$TRASH/$o" 2> err
		expect_grep "letters, digits and _ . / + @ - only" err
	done
'

test_expect_success 'a static wprof has an empty closure; new libraries rebuild the closure' '
	echo "int f(void) { return 1; }" > lib.c
	echo "int puts(const char *); int f(void); int main(void) { return f() - 1 + !!puts(\"x\") - 1; }" > m.c
	gcc -static -o st m.c lib.c
	build "$TRASH/c" WPROF="$TRASH/st"
	"$TRASH/c/ktpack" blobs | grep -q "^wprof_libs  *x86_64  *0  *empty  *(guest only)\$"
	gcc -shared -fPIC -o libr.so lib.c
	gcc -o dy m.c -L. -lr -Wl,-rpath,"$TRASH"
	build "$TRASH/c" WPROF="$TRASH/dy"
	d1=$(digest "$TRASH/c/ktpack" wprof_libs)
	test -n "$d1"
	echo "int f(void) { return 2; }" > lib.c
	gcc -shared -fPIC -o libr.so lib.c
	build "$TRASH/c"
	d2=$(digest "$TRASH/c/ktpack" wprof_libs)
	test -n "$d2" && test "$d1" != "$d2"
'

test_expect_success 'a blob path with # or $ is refused; clean needs no blob' '
	prog "h#x" hash
	expect_exit 2 make -C "$TOP" -s OUT="$TRASH/hx" WPROF="$TRASH/h#x" 2> err
	expect_grep "a path with .#. or .\$. cannot be embedded" err
	prog vanish v
	build "$TRASH/v" WPROF="$TRASH/vanish"
	rm vanish
	make -C "$TOP" -s OUT="$TRASH/v" clean
	test ! -e v
'

test_expect_success 'headers and flags rebuild what depends on them' '
	build "$TRASH/h"
	# a header the blob table includes
	touch "$TRASH/h/stamp"
	sleep 1.1
	touch -r "$TOP/include/ktpack/blob.h" "$TRASH/h/saved-time"
	touch "$TOP/include/ktpack/blob.h"
	make -C "$TOP" -n OUT="$TRASH/h" "$TRASH/h/ktpack" > plan
	touch -r "$TRASH/h/saved-time" "$TOP/include/ktpack/blob.h"
	grep -q "kt_embedded_blobs.o" plan
	grep -q "kt_guest_blobs.o" plan
	# CFLAGS reach the guest init too
	make -C "$TOP" -n OUT="$TRASH/h" CFLAGS="-O1 -g" "$TRASH/h/ktpack" > plan
	grep -q "guest/obj/guest/init.o" plan
	# the tests and fixtures track their headers
	make -C "$TOP" -s OUT="$TRASH/h" "$TRASH/h/tests/test_blob" > /dev/null
	ls "$TRASH/h/tests/test_blob.d"
'

test_expect_success 'the guest init does not depend on where the sources are' '
	n=0
	for d in x "y y/deeper"; do
		n=$((n + 1))
		mkdir -p "$d"
		git -C "$TOP" archive HEAD | tar -x -C "$d"
		make -C "$d" -s OUT="$TRASH/out$n" "$TRASH/out$n/guest/init" > /dev/null
	done
	cmp "$TRASH/out1/guest/init" "$TRASH/out2/guest/init"
'

test_expect_success 'a blob variable naming a missing file stops the build' '
	expect_exit 2 make -C "$TOP" -s OUT="$TRASH/o" WPROF=/nonexistent/wprof 2> err
	expect_grep "WPROF=/nonexistent/wprof: no such file" err
'

test_expect_success 'make install honours PREFIX and DESTDIR' '
	make -C "$TOP" -s install DESTDIR="$TRASH/dest" PREFIX=/opt/kt > /dev/null
	test -x "$TRASH/dest/opt/kt/bin/ktpack"
	test "$(stat -c %a "$TRASH/dest/opt/kt/bin/ktpack")" = 755
	"$TRASH/dest/opt/kt/bin/ktpack" --version | grep -q "^ktpack "
'

test_done
