#!/bin/sh
# make install and the library's front ends: every installed file, the
# pkg-config file, the man pages, the closure tool, and the example front
# end built from the installed tree alone (as C and as C++), with its
# wprof's embedded closure packed when its libraries are gone, booted
# with the Debian kernel.
. "$(dirname "$0")/lib.sh"
TOP=$(pwd)
KERNEL=${KTSTR_KERNEL:-/var/cache/ktpack/vmlinuz}

# Installs into $1 with PREFIX $2 (DESTDIR when $1 is not empty).
install_to() {
	make -C "$TOP" -s OUT="$KT_OUT" install DESTDIR="$1" PREFIX="$2" > /dev/null
}

# A QEMU first in PATH (./bin) that answers what a run asks before a boot
# with the real one and boots nothing: the run builds its archives, then
# ends on QEMU's error line.
no_boot_qemu() {
	real=$(command -v qemu-system-x86_64)
	mkdir -p bin
	cat > bin/qemu-system-x86_64 <<EOF
#!/bin/sh
case " \$* " in *" -kernel "*) echo "qemu-system-x86_64: a test double, it boots nothing" >&2; exit 1 ;; esac
exec "$real" "\$@"
EOF
	chmod +x bin/qemu-system-x86_64
}

# The size of the blob NAME in the program FILE, by its symbols (0 when
# it has none: an empty slot).
blob_size() { # file name
	nm "$1" > syms
	s=$(sed -n "s/^\([0-9a-f]*\) . _binary_$2_start\$/\1/p" syms)
	e=$(sed -n "s/^\([0-9a-f]*\) . _binary_$2_end\$/\1/p" syms)
	echo $((0x${e:-0} - 0x${s:-0}))
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
	test -x "$r/libexec/ktpack/ktpack-closure"
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
	pkg-config --variable=closure libktpack | grep -q "/usr/libexec/ktpack/ktpack-closure\$"
	# its folders follow prefix: the staged tree is found by it
	unset PKG_CONFIG_SYSROOT_DIR
	for v in embedmk closure; do
		test -e "$(pkg-config --define-variable=prefix="$TRASH/root/usr" --variable=$v libktpack)"
	done
	pkg-config --define-variable=prefix="$TRASH/root/usr" --cflags libktpack > flags
	expect_grep "^-I$TRASH/root/usr/include" flags
	MANWIDTH=80 man -l "$TRASH/root/usr/share/man/man1/ktpack.1" > m1 2> /dev/null
	expect_grep "ktpack run" m1
	MANWIDTH=80 man -l "$TRASH/root/usr/share/man/man3/libktpack.3" > m3 2> /dev/null
	expect_grep "kt_run" m3
'

test_expect_success 'the installed closure tool: usage, one error line, nothing half-written' '
	install_to "" "$TRASH/inst"
	c=$(PKG_CONFIG_PATH="$TRASH/inst/lib/pkgconfig" pkg-config --variable=closure libktpack)
	test "$c" = "$TRASH/inst/libexec/ktpack/ktpack-closure"
	expect_exit 2 "$c" 2> err
	echo "usage: ktpack-closure OUT.cpio PROGRAM GUEST-PATH" > want
	cmp want err
	"$c" --help > out
	expect_grep "^usage: ktpack-closure " out
	expect_exit 1 "$c" o.cpio "$TRASH/nope" /bin/wprof 2> err
	expect_grep "^ktpack-closure: cannot open .$TRASH/nope.: No such file or directory\$" err
	test "$(wc -l < err)" -eq 1
	expect_exit 1 "$c" no/o.cpio "$FIXTURE" /bin/wprof 2> err
	expect_grep "^ktpack-closure: cannot write .no/o.cpio.: No such file or directory\$" err
	test "$(wc -l < err)" -eq 1
	expect_exit 2 "$c" o.cpio "$FIXTURE" bin/wprof 2> err
	expect_grep "^ktpack-closure: invalid guest path .bin/wprof.: must be absolute\$" err
	test -z "$(ls -A | grep cpio)"
	# the fixture: its loader and libraries; a static program: nothing
	"$c" o.cpio "$FIXTURE" /bin/wprof
	cpio -it < o.cpio > list 2> /dev/null
	expect_grep "/libelf\.so\.1\$" list
	not grep -q "wprof" list
	"$c" s.cpio /bin/busybox /bin/busybox
	test -f s.cpio && test ! -s s.cpio
'

test_expect_success 'make uninstall removes every installed file' '
	install_to "$TRASH/root" /usr
	test -n "$(find "$TRASH/root" -type f)"
	make -C "$TOP" -s OUT="$KT_OUT" uninstall DESTDIR="$TRASH/root" PREFIX=/usr
	find "$TRASH/root" -type f > left
	test ! -s left || { cat left; false; }
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
		expect_grep "^usage: frontend \[--repro\] \[--topology SPEC\] \[--collect PATH\]\.\.\. KERNEL PROGRAM" err
		expect_exit 2 "$TRASH/ex/$b" --topology 0n k p 2> err
		expect_grep "^frontend: invalid --topology: .0n.: " err
		test "$(wc -l < err)" -eq 1
		nm "$TRASH/ex/$b" | grep -q " _binary_wprof_start\$"
		# wprof_CLOSURE: the fixture (dynamic) brings its libraries
		test "$(blob_size "$TRASH/ex/$b" wprof_libs)" -gt 0
		# it installs its own blobs, as ktstr does, before the run
		# finds that the kernel is missing
		rm -rf "$KTSTR_CACHE_DIR"
		expect_exit 125 "$TRASH/ex/$b" "$TRASH/nokernel" /bin/true 2> err
		expect_grep "^frontend: cannot open kernel .$TRASH/nokernel.: No such file or directory\$" err
		test "$(wc -l < err)" -eq 1
		ls "$KTSTR_CACHE_DIR" > cached
		expect_grep "^wprof-[0-9a-f]\{64\}\$" cached
		expect_grep "^busybox-[0-9a-f]\{64\}\$" cached
	done
'

test_expect_success 'the README make snippet builds its front end with a plain make' '
	install_to "" "$TRASH/inst"
	mkdir snip && cp "$TOP/examples/frontend.c" snip/ &&
	sed -n "/^EMBEDMK := /,/^\`\`\`/p" "$TOP/README.md" | sed "/^\`\`\`/d" |
		sed "s|/path/to/wprof|$FIXTURE|" > snip/Makefile
	expect_grep "^frontend: " snip/Makefile
	PKG_CONFIG_PATH="$TRASH/inst/lib/pkgconfig" make -s -C snip > /dev/null
	expect_exit 2 snip/frontend 2> err
	expect_grep "^usage: frontend .* KERNEL PROGRAM" err
	test "$(blob_size snip/frontend wprof_libs)" -gt 0
'

test_expect_success KERNEL,QEMU 'a front end whose wprof config comes from the environment packs the embedded closure' '
	install_to "" "$TRASH/inst"
	cp -r "$TOP/examples" src
	# a wprof whose library only the build machine has, gone from this one
	mkdir plib
	echo "int wp_lib(void) { return 0; }" > lib.c
	echo "int wp_lib(void); int main(void) { return wp_lib(); }" > w.c
	gcc -shared -fPIC -o plib/libwp.so lib.c
	gcc -o w w.c -Lplib -lwp -Wl,-rpath,"$TRASH/plib"
	PKG_CONFIG_PATH="$TRASH/inst/lib/pkgconfig" make -s -C src OUT="$TRASH/ex" \
		WPROF="$TRASH/w" "$TRASH/ex/frontend" > /dev/null
	rm plib/libwp.so
	expect_exit 1 "$KTPACK" ldd w 2> err
	expect_grep "libwp\.so" err
	# install_env, from_env, kt_run: the base archive is built, then the
	# test double refuses the boot
	no_boot_qemu
	expect_exit 125 env PATH="$TRASH/bin:$PATH" "$TRASH/ex/frontend" "$KERNEL" /bin/true 2> err
	expect_grep "a test double, it boots nothing" err
	ls "$KTSTR_CACHE_DIR" | grep "^initramfs-.*\.cpio\$" > bases
	test "$(wc -l < bases)" -eq 1
	cpio -it < "$KTSTR_CACHE_DIR/$(cat bases)" > list 2> /dev/null
	expect_grep "^${TRASH#/}/plib/libwp\.so\$" list
	expect_grep "^bin/wprof\$" list
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

test_expect_success KERNEL,QEMU 'the example front end: --repro, --topology and --collect' '
	install_to "" "$TRASH/inst"
	cp -r "$TOP/examples" src
	PKG_CONFIG_PATH="$TRASH/inst/lib/pkgconfig" make -s -C src OUT="$TRASH/ex" \
		WPROF="$FIXTURE" "$TRASH/ex/frontend" > /dev/null
	# two boots: the run (no wprof), then the failure again under wprof;
	# a file and a folder back, the file also inside the folder
	expect_exit 3 "$TRASH/ex/frontend" --repro --topology 1n2l1c1t \
		--collect /tmp/r/a --collect /tmp/r "$KERNEL" \
		/bin/sh -c "mkdir -p /tmp/r/d; echo hi > /tmp/r/a; printf \"x\\0y\" > /tmp/r/d/b; nproc; exit 3" \
		> out 2> err
	test "$(cat out)" = 2
	expect_grep "^frontend: 2 CPUs on 1 node, 256 MiB\$" err
	echo hi > a.want && cmp a.want a && cmp a.want r/a
	printf "x\\0y" > b.want && cmp b.want r/d/b
	expect_grep "^frontend: collected 3 files (9 bytes) into .\.., 0 refused\$" err
	# a line per file from the result list, in the order they came
	expect_grep "^frontend: collected .a. (3 bytes)\$" err
	expect_grep "^frontend: collected .r/a. (3 bytes)\$" err
	expect_grep "^frontend: collected .r/d/b. (3 bytes)\$" err
	test "$(grep -c "^frontend: collected .[^ ]*. (" err)" -eq 3
	grep "^frontend: collected .[^ ]*. (" err | head -n 1 | grep -q " .a. "
	# one line for each run, in order, and the first run untraced
	grep "^frontend: status \|^frontend: --repro: run again" err > runs
	test "$(wc -l < runs)" -eq 2
	head -n 1 runs | grep -q "^frontend: status 3 over the virtio channel\$"
	tail -n 1 runs | grep -q "^frontend: --repro: run again under wprof, the command exited with status 3; wrote the wprof trace to .frontend\.pb. (65536 bytes)\$"
	not grep -q "^frontend: trace in " err
	not grep -q "^wprof-fixture: " err
	"$FIXTURE" -d 500 -e sched --ringbuf-size=256000 --ringbuf-cnt=8 -T host.pb > /dev/null
	cmp frontend.pb host.pb
'

test_done
