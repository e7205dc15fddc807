#!/bin/sh
# ktpack ldd: the closure of ELF programs in glibc's order, checked against
# glibc's own ldd on fixtures built here and on the system's programs.
. "$(dirname "$0")/lib.sh"
DYNTAG="$KT_OUT/tests/dyntag"

# mklib OUT SONAME [LDFLAGS...]: a shared library with one function.
mklib() {
	_out=$1 _so=$2
	shift 2
	mkdir -p "$(dirname "$_out")"
	echo "int f_$(echo "$_so" | tr -c 'a-z0-9\n' _)(void) { return 1; }" > "$_out.c"
	gcc -shared -fPIC -o "$_out" "$_out.c" -Wl,-soname,"$_so" -Wl,--no-as-needed "$@"
}
# mkapp OUT [LDFLAGS...]: a program that needs what LDFLAGS link.
mkapp() {
	_out=$1
	shift
	mkdir -p "$(dirname "$_out")"
	echo "int main(void) { return 0; }" > "$_out.c"
	gcc -o "$_out" "$_out.c" -Wl,--no-as-needed "$@"
}
# The real files each tool resolved, interpreter included, sorted.
ldd_set() { ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | xargs -r realpath | sort -u; }
kt_set() { "$KTPACK" ldd "$1" | awk '$2 == "=>" { print $3 } $1 == "interpreter" { print $2 }' | xargs -r realpath | sort -u; }
agree() {
	ldd_set "$1" > want
	kt_set "$1" > got
	diff -u want got
}

test_expect_success 'DT_RPATH finds a library' '
	mklib rp/libleaf.so libleaf.so
	mkapp app -Wl,--disable-new-dtags,-rpath,"$PWD/rp" -L rp -lleaf
	"$KTPACK" ldd app > out
	expect_grep "^	libleaf.so => $PWD/rp/libleaf.so\$" out
	expect_grep "^	interpreter /lib64/ld-linux-x86-64.so.2\$" out
	agree app
'

test_expect_success 'DT_RUNPATH finds a library' '
	mklib run/libleaf.so libleaf.so
	mkapp app -Wl,--enable-new-dtags,-rpath,"$PWD/run" -L run -lleaf
	"$KTPACK" ldd app > out
	expect_grep "^	libleaf.so => $PWD/run/libleaf.so\$" out
	agree app
'

test_expect_success 'with both, DT_RUNPATH is used and DT_RPATH ignored' '
	mklib rp/libleaf.so libleaf.so
	mklib run/libleaf.so libleaf.so
	mkapp app -Wl,--disable-new-dtags,-rpath,"$PWD/rp",-soname,"$PWD/run" -L rp -lleaf
	"$DYNTAG" app 14 29
	readelf -d app | grep -q RUNPATH
	readelf -d app | grep -q RPATH
	"$KTPACK" ldd app > out
	expect_grep "^	libleaf.so => $PWD/run/libleaf.so\$" out
	agree app
'

test_expect_success 'the program'"'"'s DT_RPATH serves the libraries it loads' '
	mklib a/libleaf.so libleaf.so
	mklib a/libmid.so libmid.so -L a -lleaf
	mkapp app -Wl,--disable-new-dtags,-rpath,"$PWD/a" -L a -lmid
	"$KTPACK" ldd app > out
	expect_grep "^	libleaf.so => $PWD/a/libleaf.so\$" out
	agree app
'

test_expect_success 'DT_RUNPATH serves only the object that has it' '
	mklib a/libleaf.so libleaf.so
	mklib a/libmid.so libmid.so -L a -lleaf
	mkapp app -Wl,--enable-new-dtags,-rpath,"$PWD/a" -L a -lmid
	expect_exit 1 "$KTPACK" ldd app 2> err
	expect_grep "^ktpack: libleaf.so: not found (needed by $PWD/a/libmid.so)\$" err
	ldd app | grep -q "libleaf.so => not found"
'

test_expect_success '$ORIGIN of a program reached through a symlinked folder' '
	mklib real/lib/libleaf.so libleaf.so
	mkapp real/bin/app -Wl,-rpath,"\$ORIGIN/../lib" -L real/lib -lleaf
	ln -s real link
	"$KTPACK" ldd link/bin/app > out
	expect_grep "libleaf.so => $PWD/real/bin/../lib/libleaf.so\$" out
	agree link/bin/app
'

test_expect_success '${ORIGIN} of a library reached through a symlinked folder' '
	mklib real/lib2/libleaf.so libleaf.so
	mklib real/lib/libmid.so libmid.so -Wl,-rpath,"\${ORIGIN}/../lib2" -L real/lib2 -lleaf
	ln -s real link
	mkapp app -Wl,-rpath,"$PWD/link/lib" -L real/lib -lmid
	"$KTPACK" ldd app > out
	expect_grep "libleaf.so => $PWD/link/lib/../lib2/libleaf.so\$" out
	agree app
'

test_expect_success 'a library only on LD_LIBRARY_PATH' '
	mklib llp/libleaf.so libleaf.so
	mkapp app -L llp -lleaf
	expect_exit 1 "$KTPACK" ldd app 2> err
	expect_grep "libleaf.so: not found (needed by app)" err
	LD_LIBRARY_PATH="$PWD/llp" "$KTPACK" ldd app > out
	expect_grep "^	libleaf.so => $PWD/llp/libleaf.so\$" out
	LD_LIBRARY_PATH="$PWD/llp" agree app
'

test_expect_success 'DF_1_NODEFLIB refuses the cache and the system folders' '
	mklib nd/libleaf.so libleaf.so
	mkapp app -Wl,-rpath,"$PWD/nd" -L nd -lleaf
	# GNU ld ignores -z nodeflib for programs: set DF_1_NODEFLIB by hand.
	"$DYNTAG" app or 0x6ffffffb 0x800
	readelf -d app | grep -q NODEFLIB
	expect_exit 1 "$KTPACK" ldd app 2> err
	expect_grep "^ktpack: libc.so.6: not found (needed by app)\$" err
	ldd app > real || true
	grep -q "libc.so.6 => not found" real
	grep -q "libleaf.so => $PWD/nd/libleaf.so" real
'

test_expect_success 'a dependency cycle ends' '
	mklib c/libb.so libb.so
	mklib c/liba.so liba.so -L c -lb
	mklib c/libb.so libb.so -L c -la
	mkapp app -Wl,--disable-new-dtags,-rpath,"$PWD/c" -L c -la
	"$KTPACK" ldd app > out
	test "$(grep -c "=> $PWD/c/" out)" -eq 2
	agree app
'

test_expect_success 'a missing library is named with what needs it' '
	app_missing_lib
	expect_exit 1 "$KTPACK" ldd app 2> err
	expect_grep "^ktpack: libgone.so: not found (needed by app)\$" err
	test "$(wc -l < err)" -eq 1
'

test_expect_success 'a static program has no closure' '
	"$KTPACK" ldd /bin/busybox > out
	expect_grep "statically linked" out
'

test_expect_success 'not ELF, truncated or corrupt files: one line, exit 1, no crash' '
	echo "#!/bin/sh" > script
	: > empty
	expect_exit 1 "$KTPACK" ldd script 2> err
	expect_grep "^ktpack: .script.: not an ELF file\$" err
	expect_exit 1 "$KTPACK" ldd empty 2> err
	size=$(wc -c < /bin/true)
	for n in 4 16 52 63 64 65 100 600 1000 4096 10000 $((size - 1))
	do
		head -c $n /bin/true > t
		set +e
		"$KTPACK" ldd t > /dev/null 2> err
		rc=$?
		set -e
		test $rc -le 1 || die "exit $rc at $n bytes"
		test "$(wc -l < err)" -le 1
	done
	# bytes flipped over the headers and the dynamic section
	dyn=$(readelf -lW /bin/true | awk "/DYNAMIC/ { print \$2 }")
	for off in 4 5 7 16 18 32 40 54 56 58 60 64 72 80 100 200 $((dyn)) $((dyn + 8)) $((dyn + 16)) $((dyn + 40)) $((dyn + 200))
	do
		cp /bin/true c
		printf "\377\377\377\377" | dd of=c bs=1 seek=$off conv=notrunc 2> /dev/null
		set +e
		"$KTPACK" ldd c > /dev/null 2> err
		rc=$?
		set -e
		test $rc -le 1 || die "exit $rc with bytes flipped at $off"
		test "$(wc -l < err)" -le 1
	done
'

test_expect_success 'ldd --json lists the interpreter and libraries' '
	"$KTPACK" ldd --json /bin/ls > out
	python3 -c "
import json
d = json.load(open(\"out\"))[0]
assert d[\"interpreter\"] == \"/lib64/ld-linux-x86-64.so.2\", d
names = [l[\"name\"] for l in d[\"libraries\"]]
assert \"libc.so.6\" in names, names
"
'

# Known, correct differences from ldd: none on Debian 12's baseline glibc.
# glibc-hwcaps copies (x86-64-v2/v3/v4 subfolders) would be one: ldd shows
# the host CPU's pick, ktpack the baseline copy the guest can run anywhere.
test_expect_success 'agrees with ldd on every dynamic program in /usr/bin and /usr/sbin' '
	n=0 bad=0
	for f in /usr/bin/* /usr/sbin/*; do
		[ -f "$f" ] && [ ! -L "$f" ] || continue
		head -c 4 "$f" | grep -q "ELF" || continue
		# glibc says which programs are dynamic; ktpack must read each.
		ldd "$f" > real 2> /dev/null || continue
		grep -q "=> /" real || continue
		if ! "$KTPACK" ldd "$f" > out 2> err; then
			echo "fails: $f: $(cat err)"
			bad=$((bad + 1))
			continue
		fi
		ldd_set "$f" > want 2> /dev/null
		kt_set "$f" > got
		if ! cmp -s want got; then
			echo "differs: $f"
			diff want got || true
			bad=$((bad + 1))
		fi
		n=$((n + 1))
	done
	echo "compared $n programs"
	test $n -ge 50
	test $bad -eq 0
'

# arm64 programs on this host: Debian's multiarch arm64 libraries (make
# deps installs libc6:arm64 and zlib1g-dev:arm64).
CRC_ARM64="$KT_OUT/tests/crc32-arm64"
test_lazy_prereq ARM64LIBS 'test -x "$CRC_ARM64" && test -e /lib/ld-linux-aarch64.so.1'
# What the arm64 guest gets for a program: its archive's entries.
arch_entries() { bsdtar -tf "$1" | sed 's|^\./||; s|/$||' | sort; }

test_expect_success ARM64LIBS 'ldd --arch aarch64 resolves an arm64 program in the multiarch folders; the archive packs what it lists' '
	"$KTPACK" ldd --arch aarch64 "$CRC_ARM64" > out
	expect_grep "^	interpreter /lib/ld-linux-aarch64.so.1\$" out
	expect_grep "^	libz.so.1 => /lib/aarch64-linux-gnu/libz.so.1\$" out
	expect_grep "^	libc.so.6 => /lib/aarch64-linux-gnu/libc.so.6\$" out
	test "$(grep -c "=>" out)" = 2
	"$KTPACK" initramfs --arch aarch64 --no-busybox --no-wprof --include "$CRC_ARM64:/bin/kcrc" -o a.cpio
	arch_entries a.cpio > entries
	# every path ldd names is in the archive, as the guest loader will
	# open it, and each resolves to the bytes of the host file
	awk "\$2 == \"=>\" { print \$3 } \$1 == \"interpreter\" { print \$2 }" out > paths
	test -s paths
	mkdir x && (cd x && bsdtar -xf ../a.cpio --exclude dev/console)
	while read -r p; do
		g=$(realpath "x$p") && case $g in "$PWD/x/"*) ;; *) false ;; esac ||
			{ echo "missing $p"; exit 1; }
		cmp "$(realpath "$p")" "$g" || exit 1
	done < paths
	expect_grep "^init\$" entries
	# the arm64 init, not the host one
	file -L x/init | grep -q "ARM aarch64"
'

test_expect_success ARM64LIBS 'a program of another architecture is refused by ldd --arch, and is data in the archive of a guest' '
	expect_exit 1 "$KTPACK" ldd --arch x86_64 "$CRC_ARM64" 2> err
	expect_grep "is an aarch64 program, not x86_64\$" err
	test "$(wc -l < err)" = 1
	expect_exit 1 "$KTPACK" ldd --arch aarch64 /bin/true 2> err
	expect_grep "^ktpack: ./bin/true. is an x86_64 program, not aarch64\$" err
	# an archive of another machine takes a program of this one as data,
	# without its closure
	KTPACK_DEBUG=1 "$KTPACK" initramfs --arch aarch64 --include /bin/true -o b.cpio 2> err
	expect_grep "^ktpack: debug: ./bin/true. is an x86_64 program: packed as data, without a closure (the guest is aarch64)\$" err
	arch_entries b.cpio > entries
	expect_grep "^bin/true\$" entries
	not grep -q "ld-linux-x86-64" entries
	expect_exit 2 "$KTPACK" ldd --arch sparc /bin/true 2> err
	expect_grep "invalid --arch .sparc.: expected x86_64 or aarch64" err
	# an arm64 library as data is not a program: it goes in as it is
	"$KTPACK" initramfs --no-busybox --no-wprof --include /lib/aarch64-linux-gnu/libz.so.1:/data/libz.so.1 -o c.cpio
	arch_entries c.cpio | grep -qx data/libz.so.1
'

test_expect_success ARM64LIBS '--sysroot: a foreign root answers for the loader, its absolute links inside it' '
	r=$TRASH/root
	mkdir -p "$r/usr/lib/aarch64-linux-gnu" "$r/etc"
	ln -s usr/lib "$r/lib"
	for f in ld-linux-aarch64.so.1 libc.so.6 libz.so.1.2.13; do
		cp "$(realpath /lib/aarch64-linux-gnu/$f)" "$r/usr/lib/aarch64-linux-gnu/$f"
	done
	# absolute: on the host it would point out of the root
	ln -s /usr/lib/aarch64-linux-gnu/libz.so.1.2.13 "$r/usr/lib/aarch64-linux-gnu/libz.so.1"
	ln -s /lib/aarch64-linux-gnu/ld-linux-aarch64.so.1 "$r/usr/lib/ld-linux-aarch64.so.1"
	"$KTPACK" ldd --arch aarch64 --sysroot "$r/" "$CRC_ARM64" > out
	expect_grep "^	interpreter /lib/ld-linux-aarch64.so.1\$" out
	expect_grep "^	libz.so.1 => $r/lib/aarch64-linux-gnu/libz.so.1\$" out
	expect_grep "^	libc.so.6 => $r/lib/aarch64-linux-gnu/libc.so.6\$" out
	"$KTPACK" initramfs --arch aarch64 --sysroot "$r" --no-busybox --no-wprof --include "$CRC_ARM64:/bin/kcrc" -o s.cpio
	mkdir s && (cd s && bsdtar -xf ../s.cpio --exclude dev/console)
	test "$(readlink s/lib/aarch64-linux-gnu/libz.so.1)" = /usr/lib/aarch64-linux-gnu/libz.so.1.2.13
	test "$(readlink s/usr/lib/ld-linux-aarch64.so.1)" = /lib/aarch64-linux-gnu/ld-linux-aarch64.so.1
	cmp s/usr/lib/aarch64-linux-gnu/libz.so.1.2.13 "$r/usr/lib/aarch64-linux-gnu/libz.so.1.2.13"
	cmp s/usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1 "$r/usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1"
	# an absolute link to a file only inside the root is found there; one
	# to a file only on the host is not followed onto the host
	mkdir -p "$r/opt/z" "$TRASH/hostonly"
	mv "$r/usr/lib/aarch64-linux-gnu/libz.so.1.2.13" "$r/opt/z/"
	ln -sf /opt/z/libz.so.1.2.13 "$r/usr/lib/aarch64-linux-gnu/libz.so.1"
	"$KTPACK" ldd --sysroot "$r" "$CRC_ARM64" > out
	expect_grep "^	libz.so.1 => $r/lib/aarch64-linux-gnu/libz.so.1\$" out
	cp "$r/opt/z/libz.so.1.2.13" "$TRASH/hostonly/libz.so.1"
	rm -r "$r/opt/z"
	ln -sf "$TRASH/hostonly/libz.so.1" "$r/usr/lib/aarch64-linux-gnu/libz.so.1"
	expect_exit 1 "$KTPACK" ldd --sysroot "$r" "$CRC_ARM64" 2> err
	expect_grep "^ktpack: libz.so.1: not found (needed by .*crc32-arm64)\$" err
	# a root without the library: not found, named
	rm "$r/usr/lib/aarch64-linux-gnu/libz.so.1"
	expect_exit 1 "$KTPACK" ldd --sysroot "$r" "$CRC_ARM64" 2> err
	expect_grep "^ktpack: libz.so.1: not found (needed by .*crc32-arm64)\$" err
	expect_exit 1 "$KTPACK" ldd --sysroot "$r/nope" "$CRC_ARM64" 2> err
	expect_grep "^ktpack: --sysroot .*nope.: No such file or directory\$" err
'

test_done
