#!/bin/sh
# make install and the library's front ends: every installed file, the
# pkg-config file, the man pages, and the example front end built from the
# installed tree alone (as C and as C++), booted with the Debian kernel.
. "$(dirname "$0")/lib.sh"
TOP=$(pwd)
KERNEL=${KTSTR_KERNEL:-/var/cache/ktpack/vmlinuz}

# Installs into $1 with PREFIX $2 (DESTDIR when $1 is not empty).
install_to() {
	make -C "$TOP" -s OUT="$KT_OUT" install DESTDIR="$1" PREFIX="$2" > /dev/null
}

test_expect_success 'make install DESTDIR puts every file in place' '
	install_to "$TRASH/root" /usr
	r="$TRASH/root/usr"
	test -x "$r/bin/ktpack"
	test -f "$r/lib/libktpack.a"
	for h in "$TOP"/include/ktpack/*.h; do
		cmp "$h" "$r/include/ktpack/$(basename "$h")"
	done
	test -f "$r/lib/pkgconfig/libktpack.pc"
	test -f "$r/share/man/man1/ktpack.1"
	test -f "$r/share/man/man3/libktpack.3"
	for f in ktpack-embed.mk gen-blobtab.sh update-if-changed.sh probe.c; do
		test -f "$r/share/ktpack/$f"
	done
	test -x "$r/share/ktpack/gen-blobtab.sh"
	test -f "$r/share/bash-completion/completions/ktpack"
	# the archive holds the guest init: a front end links a bootable guest
	nm "$r/lib/libktpack.a" | grep -q " _binary_init_start\$"
'

test_expect_success 'pkg-config describes the installed library; man renders both pages' '
	install_to "$TRASH/root" /usr
	export PKG_CONFIG_SYSROOT_DIR="$TRASH/root" PKG_CONFIG_PATH="$TRASH/root/usr/lib/pkgconfig"
	pkg-config --cflags --libs --static libktpack > flags
	expect_grep "^-I$TRASH/root/usr/include " flags
	expect_grep " -lktpack " flags
	for l in -lelf -lz -lzstd; do expect_grep " $l\\( \\|\$\\)" flags; done
	test "$(pkg-config --modversion libktpack)" = "$("$KTPACK" --version | cut -d" " -f2)"
	pkg-config --variable=embedmk libktpack | grep -q "/usr/share/ktpack/ktpack-embed.mk\$"
	MANWIDTH=80 man -l "$TRASH/root/usr/share/man/man1/ktpack.1" > m1 2> /dev/null
	expect_grep "ktpack run" m1
	MANWIDTH=80 man -l "$TRASH/root/usr/share/man/man3/libktpack.3" > m3 2> /dev/null
	expect_grep "kt_run" m3
'

test_expect_success 'the public headers compile alone, as C and as C++' '
	install_to "$TRASH/root" /usr
	for h in "$TRASH"/root/usr/include/ktpack/*.h; do
		echo "#include <ktpack/$(basename "$h")>" > t.c
		cc -std=c11 -Wall -Wextra -Werror -I"$TRASH/root/usr/include" -fsyntax-only t.c
		g++ -x c++ -std=c++17 -Wall -Wextra -Werror -I"$TRASH/root/usr/include" -fsyntax-only t.c
	done
'

test_expect_success 'the example front end builds from the installed tree alone' '
	install_to "" "$TRASH/inst"
	cp -r "$TOP/examples" src
	PKG_CONFIG_PATH="$TRASH/inst/lib/pkgconfig" make -s -C src OUT="$TRASH/ex" \
		WPROF="$FIXTURE" > /dev/null
	for b in frontend frontend-cxx; do
		expect_exit 2 "$TRASH/ex/$b" 2> err
		expect_grep "^usage: frontend KERNEL PROGRAM" err
		nm "$TRASH/ex/$b" | grep -q " _binary_wprof_start\$"
	done
	# it installs its own blobs, as ktstr does
	expect_exit 2 "$TRASH/ex/frontend" > /dev/null 2>&1
'

test_expect_success 'the README make snippet builds its front end with a plain make' '
	install_to "" "$TRASH/inst"
	mkdir snip && cp "$TOP/examples/frontend.c" snip/ &&
	sed -n "/^EMBEDMK := /,/^\`\`\`/p" "$TOP/README.md" | sed "/^\`\`\`/d" |
		sed "s|/path/to/wprof|$FIXTURE|" > snip/Makefile
	expect_grep "^frontend: " snip/Makefile
	PKG_CONFIG_PATH="$TRASH/inst/lib/pkgconfig" make -s -C snip > /dev/null
	expect_exit 2 snip/frontend 2> err
	expect_grep "^usage: frontend KERNEL PROGRAM" err
'

test_expect_success KERNEL,QEMU 'the example front end boots a program with wprof: status and trace' '
	install_to "" "$TRASH/inst"
	cp -r "$TOP/examples" src
	PKG_CONFIG_PATH="$TRASH/inst/lib/pkgconfig" make -s -C src OUT="$TRASH/ex" \
		WPROF="$FIXTURE" "$TRASH/ex/frontend" > /dev/null
	expect_exit 3 "$TRASH/ex/frontend" "$KERNEL" /bin/sh -c "echo from-guest; exit 3" > out 2> err
	expect_grep "^frontend: status 3 over the virtio channel\$" err
	test "$(cat out)" = from-guest
	expect_grep "^wprof-fixture: done" err
	expect_grep "^frontend: trace in frontend.pb (65536 bytes), 2048 MiB, " err
	"$FIXTURE" -d 500 -e sched --ringbuf-size=256000 --ringbuf-cnt=8 -T host.pb > /dev/null
	cmp frontend.pb host.pb
	ls "$KTSTR_CACHE_DIR" | grep -q "^wprof-[0-9a-f]\\{64\\}\$"
'

test_done
