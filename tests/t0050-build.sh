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

test_expect_success 'changing the blob file rebuilds with its new digest' '
	printf "#!/bin/sh\necho one\n" > w
	make -C "$TOP" -s OUT="$TRASH/o" WPROF="$TRASH/w" BUSYBOX= "$TRASH/o/ktpack" > /dev/null
	"$TRASH/o/ktpack" blobs | grep -q "$(sha256sum w | cut -d" " -f1)"
	echo "echo two" >> w
	make -C "$TOP" -s OUT="$TRASH/o" WPROF="$TRASH/w" BUSYBOX= "$TRASH/o/ktpack" > /dev/null
	"$TRASH/o/ktpack" blobs | grep -q "$(sha256sum w | cut -d" " -f1)"
	"$TRASH/o/ktpack" blobs | grep -q "^busybox .*not embedded"
	test "$("$TRASH/o/ktpack" exec -- sh -c "\"\$KTSTR_WPROF_PATH\"")" = "one
two"
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
