#!/bin/sh
# ktpack initramfs: the archive's format, layout, reproducibility,
# compression, and a closure complete enough to run in a chroot.
. "$(dirname "$0")/lib.sh"

mkinit() { printf '#!/bin/busybox sh\necho init\n' > init.sh; }
pack() { mkinit; "$KTPACK_FIX" initramfs --init init.sh "$@"; }

test_expect_success 'cpio -it and bsdtar list the entries sorted, parents first' '
	pack -o a.cpio
	cpio -it < a.cpio > list 2> /dev/null
	LC_ALL=C sort -c list
	for e in init bin bin/busybox bin/wprof dev dev/console lib lib64 \
		usr/lib/x86_64-linux-gnu/libc.so.6 usr/lib/x86_64-linux-gnu/libelf.so.1 \
		usr/lib/x86_64-linux-gnu/libz.so.1 usr/lib/x86_64-linux-gnu/libzstd.so.1 \
		usr/lib64/ld-linux-x86-64.so.2 usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
	do
		grep -qx "$e" list || die "no $e in the archive"
	done
	# every parent is listed before its child
	awk -F/ "{ p = \"\"; for (i = 1; i < NF; i++) { p = p (i > 1 ? \"/\" : \"\") \$i; if (!(p in seen)) { print \"orphan \" \$0; exit 1 } } seen[\$0] = 1 }" list
	bsdtar -tvf a.cpio > blist
	test "$(wc -l < blist)" -eq "$(wc -l < list)"
'

test_expect_success 'modes, owners, symlinks and the console node' '
	pack -o a.cpio
	bsdtar -tvf a.cpio > l
	expect_grep "^-rwxr-xr-x  1 0  *0 .* bin/busybox\$" l
	expect_grep "^-rwxr-xr-x  1 0  *0 .* init\$" l
	expect_grep "^lrwxrwxrwx .* lib -> usr/lib\$" l
	expect_grep "^lrwxrwxrwx .* usr/lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\$" l
	expect_grep "^crw-------  1 0  *0  *5, *1 .* dev/console\$" l
	expect_grep "^drwxr-xr-x  2 0  *0 .* usr/lib/x86_64-linux-gnu\$" l
	real=$(readlink -f /lib/x86_64-linux-gnu/libz.so.1)
	expect_grep "^-rw.* usr/lib/x86_64-linux-gnu/$(basename "$real")\$" l
	expect_grep "^lrwxrwxrwx .* usr/lib/x86_64-linux-gnu/libz.so.1 -> $(basename "$real")\$" l
'

test_expect_success 'newc format: magic, sequential inodes, trailer, 512 padding' '
	pack -o a.cpio --no-wprof
	test "$(head -c 6 a.cpio)" = 070701
	test $(($(wc -c < a.cpio) % 512)) -eq 0
	grep -aq "TRAILER!!!" a.cpio
	cpio -itv < a.cpio > /dev/null 2> err
	not grep -qi "warning\|error" err
'

test_expect_success 'two builds from the same inputs are byte-identical' '
	pack -o a.cpio
	sleep 1.1
	touch init.sh
	pack -o b.cpio
	cmp a.cpio b.cpio
	LC_ALL=C bsdtar -tvf a.cpio | head -n 1 | grep -q "1970"
'

test_expect_success 'SOURCE_DATE_EPOCH sets every mtime' '
	SOURCE_DATE_EPOCH=1700000000 pack -o a.cpio
	TZ=UTC bsdtar -tvf a.cpio > l
	test "$(grep -vc "Nov 14  2023" l)" -eq 0
	expect_exit 1 env SOURCE_DATE_EPOCH=soon "$KTPACK_FIX" initramfs -o b.cpio --init init.sh 2> err
	expect_grep "invalid SOURCE_DATE_EPOCH" err
'

test_expect_success 'gzip and zstd archives decompress to the same cpio' '
	pack -o plain.cpio
	pack -o a.gz --compress gzip
	pack -o a.zst --compress zstd
	gzip -dc a.gz > from-gz
	zstd -qdc a.zst > from-zst
	cmp plain.cpio from-gz
	cmp plain.cpio from-zst
	test "$(wc -c < a.gz)" -lt "$(wc -c < plain.cpio)"
	expect_exit 2 "$KTPACK_FIX" initramfs -o x --init init.sh --compress lz4 2> err
	expect_grep "invalid --compress .lz4." err
'

test_expect_success ROOT 'the closure is complete: the fixture runs in a chroot' '
	pack -o a.cpio --include /bin/ls:/usr/bin/ls
	mkdir root
	(cd root && unpack ../a.cpio)
	chroot root /bin/wprof -d 1 hello > out
	expect_grep "^wprof-fixture: arg\[3\]=68656c6c6f\$" out
	expect_grep "^wprof-fixture: done\$" out
	chroot root /usr/bin/ls /bin > out
	expect_grep "^wprof\$" out
	chroot root /bin/busybox true
'

test_expect_success 'an --include lands at its guest path, a folder whole' '
	mkdir -p tree/sub
	echo data > tree/sub/file
	ln -s sub/file tree/link
	echo note > note
	pack -o a.cpio --include "$PWD/tree:/opt/tree" --include "note:/etc/note"
	bsdtar -tvf a.cpio > l
	expect_grep " opt/tree/sub/file\$" l
	expect_grep " opt/tree/link -> sub/file\$" l
	expect_grep " etc/note\$" l
	mkdir root
	(cd root && unpack ../a.cpio)
	cmp root/opt/tree/link tree/sub/file
'

test_expect_success 'an --include without a slash is a program found in PATH' '
	mkdir bin
	cp /bin/true bin/kt-prog
	PATH="$PWD/bin:$PATH" pack -o a.cpio --include kt-prog --include kt-prog:/usr/bin/p
	bsdtar -tvf a.cpio > l
	expect_grep "^-rwx.* ${PWD#/}/bin/kt-prog\$" l
	expect_grep "^-rwx.* usr/bin/p\$" l
	# the program brings its closure, as any other
	expect_grep " usr/lib/x86_64-linux-gnu/libc.so.6\$" l
	expect_exit 1 env PATH="$PWD/bin:$PATH" "$KTPACK_FIX" initramfs -o b.cpio --init init.sh \
		--include kt-nosuch 2> err
	expect_grep "^ktpack: cannot include .kt-nosuch.: no file of that name here and no program of that name in PATH\$" err
	# a name PATH does not have is the file of the working folder
	echo data > note
	pack -o b.cpio --include note:/etc/note
	bsdtar -tvf b.cpio > l
	expect_grep " etc/note\$" l
	rm b.cpio
	echo data > kt-prog
	expect_exit 1 env PATH="$PWD/bin:$PATH" "$KTPACK_FIX" initramfs -o b.cpio --init init.sh \
		--include kt-prog 2> err
	expect_grep "^ktpack: cannot include .kt-prog.: it names .$PWD/bin/kt-prog. in PATH and a file here: write the full path or .\./kt-prog.\$" err
	test "$(wc -l < err)" -eq 1
	test ! -e b.cpio
'

test_expect_success 'an --include under a symlinked guest folder follows the link' '
	echo x > f
	pack -o a.cpio --include "$PWD/f:/lib/extra/f"
	bsdtar -tvf a.cpio > l
	expect_grep " usr/lib/extra/f\$" l
	not grep -q " lib/extra" l
'

test_expect_success 'a missing library fails like ktpack ldd and leaves no file' '
	app_missing_lib
	mkinit
	expect_exit 1 "$KTPACK_FIX" initramfs -o out.cpio --init init.sh --include "$PWD/app:/bin/app" 2> err
	expect_grep "^ktpack: libgone.so: not found (needed by $PWD/app)\$" err
	test "$(wc -l < err)" -eq 1
	test -z "$(ls -A | grep out.cpio)"
'

test_expect_success 'bad guest paths, twice-given paths and huge files are refused' '
	mkinit
	echo a > a
	echo b > b
	expect_exit 1 "$KTPACK_FIX" initramfs -o o --init init.sh --include "$PWD/a:/x/../y" 2> err
	expect_grep "invalid guest path ./x/../y." err
	expect_exit 1 "$KTPACK_FIX" initramfs -o o --init init.sh --include "$PWD/a:/" 2> err
	expect_grep "invalid guest path" err
	expect_exit 1 "$KTPACK_FIX" initramfs -o o --init init.sh --include "$PWD/a:/etc/x" --include "$PWD/b:/etc/x" 2> err
	expect_grep "guest path ./etc/x. is given twice" err
	"$KTPACK_FIX" initramfs -o o --init init.sh --include "$PWD/a:/etc/x" --include "$PWD/a:/etc/x"
	expect_exit 1 "$KTPACK_FIX" initramfs -o o2 --init init.sh --include "$PWD/a:/etc/x" --include "$PWD/b:/etc/x/y" 2> err
	expect_grep "inside ./etc/x., which is not a folder" err
	truncate -s 4294967296 huge
	expect_exit 1 "$KTPACK_FIX" initramfs -o o3 --init init.sh --include "$PWD/huge:/huge" 2> err
	expect_grep "huge. is over 4 GiB" err
	test ! -e o2 && test ! -e o3
	test -z "$(ls -A | grep "^o.*\...*")"
'

test_expect_success ROOT 'a library the cache finds outside the system folders goes where the guest looks' '
	mkdir extra
	echo "int x(void) { return 1; }" > extra/x.c
	gcc -shared -fPIC -o extra/libxtra.so.1 extra/x.c -Wl,-soname,libxtra.so.1
	echo "int main(void) { return 0; }" > app.c
	gcc -o app app.c -Wl,--no-as-needed -L extra -l:libxtra.so.1
	echo "$PWD/extra" > ld.conf
	ldconfig -C "$PWD/ld.cache" -f "$PWD/ld.conf" 2> /dev/null
	"$KTPACK" ldd --ldcache "$PWD/ld.cache" app > out
	expect_grep "libxtra.so.1 => $PWD/extra/libxtra.so.1" out
	pack -o a.cpio --ldcache "$PWD/ld.cache" --include "$PWD/app:/bin/app"
	bsdtar -tvf a.cpio > l
	expect_grep " usr/lib/x86_64-linux-gnu/libxtra.so.1\$" l
	mkdir root
	(cd root && unpack ../a.cpio)
	chroot root /bin/app
'

test_expect_success 'a corrupt --ldcache is one clear error' '
	printf "glibc-ld.so.cache1.1\377\377\377\377" > bad.cache
	head -c 48 /dev/zero >> bad.cache
	expect_exit 1 "$KTPACK" ldd --ldcache bad.cache /bin/true 2> err
	expect_grep "^ktpack: .bad.cache.: corrupt ld.so.cache: entry count out of bounds\$" err
	echo nonsense > junk.cache
	expect_exit 1 "$KTPACK" ldd --ldcache junk.cache /bin/true 2> err
	expect_grep "not a glibc-ld.so.cache1.1 file" err
'

test_expect_success 'without --init, /init is the embedded guest init' '
	"$KTPACK" initramfs -o a.cpio
	mkdir root
	(cd root && unpack ../a.cpio)
	cmp root/init "$KT_OUT/guest/init"
	readelf -lW root/init > phdrs
	not grep -q INTERP phdrs
	expect_exit 2 "$KTPACK" initramfs --init x 2> err
	expect_grep "o FILE is required" err
'

test_done
