#!/bin/sh
# make demo: what `ktpack run` does, on the kernel `make deps` unpacked:
# the host's stdin in, the command's stdout and stderr out apart, a module
# loaded, the tracing file systems mounted, the command's exit status, and
# a wprof trace when a wprof is embedded.
#   build/demo.sh KTPACK KERNEL
set -eu
KTPACK=$1 KERNEL=$2
if [ ! -r "$KERNEL" ]; then
	echo "demo: no kernel at $KERNEL: run 'make deps' (or make demo KERNEL=...)" >&2
	exit 1
fi
set --
if "$KTPACK" blobs --json | grep -q '"name":"wprof","embedded":true'; then
	set -- --wprof --trace-out "${TMPDIR:-/tmp}/ktpack-demo.pb"
fi
script='echo "guest: $(uname -sr), $(nproc) CPUs, $(id -un)"
echo "stdin: $(cat)"
echo "sched_switch event id: $(cat /sys/kernel/tracing/events/sched/sched_switch/id)"
echo "cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
echo "modules: $(cut -d" " -f1 /proc/modules | tr "\n" " ")"
echo "this line goes to stderr" >&2
exit 3'
echo "\$ echo 'hello from the host' | ktpack run --kernel $KERNEL --module dummy $* -- sh -c '...'"
st=0
echo 'hello from the host' |
	"$KTPACK" run --kernel "$KERNEL" --module dummy "$@" -- /bin/busybox sh -c "$script" || st=$?
echo "exit status: $st (the guest command's)"
test "$st" -eq 3
