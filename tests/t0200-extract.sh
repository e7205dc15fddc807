#!/bin/sh
# install_env through the CLI: the cache folder, hits and misses, presets,
# empty slots, concurrency, killed runs and folders that cannot be used.
. "$(dirname "$0")/lib.sh"

# The published file of blob $1 in folder $2.
published() { echo "$2/$1-$(sha256sum "$3" | cut -d" " -f1)"; }

test_expect_success 'extracted bytes equal the sources, mode 0755' '
	"$KTPACK_FIX" env > /dev/null
	bb=$(published busybox "$KTSTR_CACHE_DIR" /bin/busybox)
	wp=$(published wprof "$KTSTR_CACHE_DIR" "$FIXTURE")
	cmp "$bb" /bin/busybox
	cmp "$wp" "$FIXTURE"
	test "$(stat -c %a "$bb")" = 755
	test "$(stat -c %a "$wp")" = 755
	test "$(stat -c %a "$KTSTR_CACHE_DIR")" = 700
'

test_expect_success 'the second run reuses the file without writing it' '
	"$KTPACK_FIX" env > first
	wp=$(published wprof "$KTSTR_CACHE_DIR" "$FIXTURE")
	before=$(stat -c "%i %s" "$wp")
	sleep 1.1
	"$KTPACK_FIX" env > second
	cmp first second
	test "$(stat -c "%i %s" "$wp")" = "$before"
'

test_expect_success 'a truncated published file is replaced' '
	"$KTPACK_FIX" env > /dev/null
	wp=$(published wprof "$KTSTR_CACHE_DIR" "$FIXTURE")
	: > "$wp"
	"$KTPACK_FIX" env > /dev/null
	cmp "$wp" "$FIXTURE"
'

test_expect_success 'a preset env var wins over the embedded blob' '
	KTSTR_WPROF_PATH=/bin/true "$KTPACK_FIX" env > out
	expect_grep "^export KTSTR_WPROF_PATH=./bin/true.\$" out
	ls "$KTSTR_CACHE_DIR" > files
	not grep -q ^wprof files
'

test_expect_success 'a preset env var that cannot run is an error naming it' '
	expect_exit 1 env KTSTR_WPROF_PATH=/nonexistent "$KTPACK_FIX" env 2> err
	expect_grep "^ktpack: KTSTR_WPROF_PATH=./nonexistent.: No such file or directory\$" err
	echo data > plain
	expect_exit 1 env KTSTR_WPROF_PATH="$PWD/plain" "$KTPACK_FIX" env 2> err
	expect_grep "not executable" err
	expect_exit 1 env KTSTR_WPROF_PATH=/tmp "$KTPACK_FIX" env 2> err
	expect_grep "not a regular file" err
'

test_expect_success 'an empty slot leaves its env var unset' '
	"$KTPACK" exec -- sh -c "test -z \"\${KTSTR_WPROF_PATH+set}\" && test -n \"\$KTSTR_BUSYBOX_PATH\""
	ls_all "$KTSTR_CACHE_DIR" > files
	test "$(grep -c . files)" -eq 1
	expect_grep "^busybox-" files
'

test_expect_success '32 concurrent cold runs all get the complete file' '
	i=0
	while [ $i -lt 32 ]; do
		"$KTPACK_FIX" exec -- sh -c "cmp \"\$KTSTR_WPROF_PATH\" \"$FIXTURE\" && cmp \"\$KTSTR_BUSYBOX_PATH\" /bin/busybox && echo ok" > out.$i 2>&1 &
		i=$((i + 1))
	done
	wait
	test "$(cat out.* | grep -c "^ok\$")" -eq 32
	ls_all "$KTSTR_CACHE_DIR" > files
	test "$(grep -c . files)" -eq 2
	expect_grep "^busybox-[0-9a-f]\{64\}\$" files
	expect_grep "^wprof-[0-9a-f]\{64\}\$" files
'

test_expect_success 'a run killed mid-copy leaves nothing the next run keeps' '
	expect_exit 137 env LD_PRELOAD="$FAULTINJECT" KT_FAULT=kill-mid-copy "$KTPACK_FIX" env
	ls -A "$KTSTR_CACHE_DIR" > before
	grep -q "^\..*\.[A-Za-z0-9]\{6\}\$" before
	"$KTPACK_FIX" env > /dev/null
	ls_all "$KTSTR_CACHE_DIR" > files
	test "$(grep -c . files)" -eq 2
	not grep -q "^\." files
	cmp "$(published busybox "$KTSTR_CACHE_DIR" /bin/busybox)" /bin/busybox
'

test_expect_success 'a live writer'"'"'s staging file is left alone' '
	"$KTPACK" env > /dev/null
	stage="$KTSTR_CACHE_DIR/.kt-busybox-x.abcdef"
	echo partial > "$stage"
	flock "$stage" sleep 3 &
	sleep 0.5
	"$KTPACK" env > /dev/null
	test -e "$stage"
	wait
	"$KTPACK" env > /dev/null
	test ! -e "$stage"
'

test_expect_success 'old versions go when a new one is written; young ones stay' '
	mkdir -m 0700 "$KTSTR_CACHE_DIR"
	old="$KTSTR_CACHE_DIR/busybox-$(printf "%064d" 0)"
	young="$KTSTR_CACHE_DIR/busybox-$(printf "%064d" 1)"
	other="$KTSTR_CACHE_DIR/notes.txt"
	touch -d "2 hours ago" "$old"
	touch "$young" "$other"
	"$KTPACK" env > /dev/null
	test ! -e "$old"
	test -e "$young"
	test -e "$other"
'

test_expect_success 'the collection of old versions is bounded per run' '
	mkdir -m 0700 "$KTSTR_CACHE_DIR"
	i=0
	while [ $i -lt 20 ]; do
		touch -d "2 hours ago" "$KTSTR_CACHE_DIR/busybox-$(printf "%064d" $((i + 10)))"
		i=$((i + 1))
	done
	"$KTPACK" env > /dev/null
	test "$(ls "$KTSTR_CACHE_DIR" | grep -c "^busybox-0")" -eq 4
'

test_expect_success 'a symlinked cache folder is skipped for the next one' '
	mkdir -m 0700 real xdg
	ln -s "$PWD/real" link
	KTSTR_CACHE_DIR="$PWD/link" XDG_CACHE_HOME="$PWD/xdg" "$KTPACK" env > out 2> err
	expect_grep "^ktpack: warning: skipping cache folder .$PWD/link.: is a symlink\$" err
	expect_grep "$PWD/xdg/ktstr/busybox-" out
	test -z "$(ls -A real)"
'

test_expect_success 'a cache folder with the wrong mode is skipped' '
	mkdir -m 0755 open
	KTSTR_CACHE_DIR="$PWD/open" "$KTPACK" env > out 2> err
	expect_grep "skipping cache folder .$PWD/open.: mode is 0755, not 0700 (chmod 700 it)" err
	expect_grep "$HOME/.cache/ktstr/busybox-" out
	test -z "$(ls -A open)"
'

test_expect_success ROOT 'a cache folder owned by another user is skipped' '
	mkdir -m 0700 theirs
	chown nobody theirs
	KTSTR_CACHE_DIR="$PWD/theirs" "$KTPACK" env > out 2> err
	expect_grep "skipping cache folder .$PWD/theirs.: owned by another user" err
	expect_grep "$HOME/.cache/ktstr/busybox-" out
'

test_expect_success 'the last fallback is $TMPDIR/ktstr-<uid>' '
	unset KTSTR_CACHE_DIR
	echo not-a-folder > file
	HOME="$PWD/file" "$KTPACK" env > out 2> err
	expect_grep "$TMPDIR/ktstr-$(id -u)/busybox-" out
'

test_expect_success 'no usable folder at all is one clear error' '
	mkdir -p -m 0755 a b/ktstr c/.cache/ktstr "$TMPDIR/ktstr-$(id -u)"
	chmod 0755 b/ktstr c/.cache/ktstr "$TMPDIR/ktstr-$(id -u)"
	expect_exit 1 env KTSTR_CACHE_DIR="$PWD/a" XDG_CACHE_HOME="$PWD/b" HOME="$PWD/c" "$KTPACK" env 2> err
	expect_grep "^ktpack: no usable cache folder (first tried .$PWD/a.: mode is 0755, not 0700 (chmod 700 it)); set KTSTR_CACHE_DIR to a private folder\$" err
'

test_expect_success MOUNT 'a cache folder on a noexec mount is skipped' '
	mkdir noexec
	mount -t tmpfs -o noexec,mode=0700 tmpfs noexec
	KTSTR_CACHE_DIR="$PWD/noexec" "$KTPACK" env > out 2> err
	expect_grep "skipping cache folder .$PWD/noexec.: on a noexec mount" err
	expect_grep "$HOME/.cache/ktstr/busybox-" out
	test -z "$(ls -A noexec)"
'

test_expect_success MOUNT 'a full cache folder is a clear error and leaves nothing' '
	mkdir full
	mount -t tmpfs -o size=64k,mode=0700 tmpfs full
	expect_exit 1 env KTSTR_CACHE_DIR="$PWD/full" "$KTPACK" env 2> err
	expect_grep "^ktpack: cannot extract busybox to .$PWD/full/busybox-[0-9a-f]*.: No space left on device\$" err
	test "$(wc -l < err)" -eq 1
	test -z "$(ls -A full)"
'

test_done
