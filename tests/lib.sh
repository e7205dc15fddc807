# Shell test library, sourced by tests/t*.sh.
#
#   test_expect_success [PREREQ] 'title' 'commands'
#                                            runs commands under set -e in a
#                                            subshell, in a fresh $TRASH; a
#                                            case whose PREREQ (NAME,NAME...)
#                                            is absent is skipped, named
#   test_lazy_prereq NAME 'commands'         NAME holds when commands succeed
#                                            (checked once, on first use)
#   test_skip 'title' 'why'
#   test_done                                prints the tally
#   test_shared_cache                        the file's cases share one
#                                            cache folder from now on
#   private_cache                            (in a case) a cache of its own,
#                                            with the shared one's KVM verdicts
#
# Every case gets its own HOME, TMPDIR and cache folder under $TRASH, so no
# case sees another's cache or the user's; a file of VM tests shares one
# warm cache among its cases instead (the vmlinux extracted once, KVM
# probed and tried once), and a case that counts what is cached takes
# its own.
set -u
KT_OUT=${KT_OUT:-$(pwd)/out}
KTPACK="$KT_OUT/ktpack"
KTPACK_FIX="$KT_OUT/fixture/ktpack"
FIXTURE="$KT_OUT/tests/wprof-fixture"
FAULTINJECT="$KT_OUT/tests/faultinject.so"
TEST_NAME=$(basename "$0" .sh)
TRASH_ROOT=$(mktemp -d "/tmp/kt-$TEST_NAME.XXXXXX")
_passed=0 _failed=0 _skipped=0 _n=0 _shared_cache=

_cleanup() {
	# Unmount what a case mounted before removing its trash.
	grep -o " $TRASH_ROOT/[^ ]*" /proc/self/mounts 2>/dev/null |
		sort -r | while read -r m; do umount "$m" 2>/dev/null; done
	rm -rf "$TRASH_ROOT"
}
trap _cleanup EXIT

_fresh() {
	TRASH="$TRASH_ROOT/$_n"
	mkdir -p "$TRASH/home" "$TRASH/tmp"
	chmod 0700 "$TRASH"
	HOME="$TRASH/home" TMPDIR="$TRASH/tmp" KTSTR_CACHE_DIR="${_shared_cache:-$TRASH/cache}"
	export HOME TMPDIR KTSTR_CACHE_DIR TRASH
	unset XDG_CACHE_HOME KTSTR_WPROF_PATH KTSTR_BUSYBOX_PATH
}

# test_lazy_prereq NAME SCRIPT: the prerequisite NAME, checked on first use.
test_lazy_prereq() {
	eval "_prereq_script_$1=\$2"
}

# 0 when every prerequisite of the comma-separated list holds; the first
# missing one goes to $_missing.
_have_prereqs() {
	_missing=
	for _p in $(echo "$1" | tr , ' '); do
		eval "_state=\${_prereq_state_$_p:-}"
		if [ -z "$_state" ]; then
			eval "_script=\${_prereq_script_$_p:-false}"
			if (eval "$_script") > /dev/null 2>&1; then _state=yes; else _state=no; fi
			eval "_prereq_state_$_p=$_state"
		fi
		[ "$_state" = yes ] || { _missing=$_p; return 1; }
	done
	return 0
}

test_expect_success() {
	if [ $# -eq 3 ]; then
		if ! _have_prereqs "$1"; then
			test_skip "$2" "missing prerequisite $_missing"
			return 0
		fi
		shift
	fi
	_n=$((_n + 1))
	_fresh
	# Not inside an if: set -e is ignored in a tested context.
	(
		cd "$TRASH" || exit 1
		set -e
		eval "$2"
	) > "$TRASH_ROOT/log" 2>&1
	_rc=$?
	# what a private cache learnt of KVM, the shared one keeps
	if [ -n "$_shared_cache" ] && [ -d "$TRASH/cache" ]; then
		mkdir -p -m 0700 "$_shared_cache"
		for _v in "$TRASH/cache"/kvm-*; do
			[ ! -f "$_v" ] || [ -e "$_shared_cache/${_v##*/}" ] || cp -p "$_v" "$_shared_cache/"
		done
	fi
	if [ $_rc -eq 0 ]; then
		_passed=$((_passed + 1))
		echo "ok $_n - $1"
	else
		_failed=$((_failed + 1))
		echo "not ok $_n - $1"
		sed 's/^/#   /' "$TRASH_ROOT/log"
	fi
}

test_shared_cache() {
	_shared_cache="$TRASH_ROOT/cache"
}

private_cache() {
	KTSTR_CACHE_DIR="$TRASH/cache"
	mkdir -m 0700 "$KTSTR_CACHE_DIR"
	for _v in "$_shared_cache"/kvm-*; do
		[ ! -f "$_v" ] || cp -p "$_v" "$KTSTR_CACHE_DIR/"
	done
}

test_skip() {
	_n=$((_n + 1))
	_skipped=$((_skipped + 1))
	echo "ok $_n - $1 # skip: $2"
}

test_done() {
	echo "# $TEST_NAME: $_passed passed, $_failed failed, $_skipped skipped"
	[ -z "${KT_RESULT:-}" ] || echo "$_passed $_failed" > "$KT_RESULT"
	[ "$_failed" -eq 0 ]
}

# Helpers for the cases.  "! cmd" never fails a case under set -e: use
# "not cmd".
die() { echo "$*" >&2; return 1; }
not() {
	if "$@"; then
		echo "succeeded, expected a failure: $*" >&2
		return 1
	fi
	return 0
}
expect_exit() { # code, command...
	_want=$1
	shift
	set +e
	"$@"
	_got=$?
	set -e
	[ "$_got" -eq "$_want" ] || die "exit $_got, expected $_want: $*"
}
expect_grep() { # pattern file
	grep -q -e "$1" "$2" || { echo "no '$1' in $2:"; cat "$2"; return 1; }
}
# unpack ARCHIVE: its entries into the working folder, but the device
# nodes (dev/console), which only root may make.
unpack() { cpio -id --quiet -f "dev/console" < "$1"; }
# The only files in a folder, sorted, one per line.
ls_all() { (cd "$1" && ls -A | sort); }
# ./app, linked against libgone.so, which is then removed.
app_missing_lib() {
	mkdir gone
	echo "int g(void) { return 1; }" > gone/g.c
	gcc -shared -fPIC -o gone/libgone.so gone/g.c -Wl,-soname,libgone.so
	echo "int main(void) { return 0; }" > app.c
	gcc -o app app.c -Wl,--no-as-needed -L gone -lgone
	rm -r gone
}
# Prerequisites every test file may name.
test_lazy_prereq KERNEL 'test -r "${KTSTR_KERNEL:-/var/cache/ktpack/vmlinuz}"'
test_lazy_prereq QEMU 'command -v qemu-system-x86_64'
test_lazy_prereq ROOT 'test "$(id -u)" -eq 0'
# The sched_ext kernel and scheduler that `make deps` builds.
SCX_DIR=${KTPACK_KERNEL_DIR:-/var/cache/ktpack}/sched_ext
test_lazy_prereq SCHED_EXT 'test -r "$SCX_DIR/vmlinuz" && test -x "$SCX_DIR/bin/scx_simple"'

test_lazy_prereq MOUNT 'mkdir -p "$TRASH_ROOT/probe" &&
	mount -t tmpfs -o size=4k tmpfs "$TRASH_ROOT/probe" && umount "$TRASH_ROOT/probe"'
