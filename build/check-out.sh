#!/bin/sh
# check-out.sh OUT DIR... - prints why OUT may not hold a build, if it may
# not: on resolved paths (symlinks, '..', a trailing '/'), OUT must not be
# the checkout, a folder above it, or one of the source folders DIR or
# anything inside one.  'make clean' removes what OUT holds.
set -eu
out=$1
shift
root=$(realpath -e .)
res=$(realpath -m -- "$out")
case "$root/" in
"${res%/}/"*)
	echo "it is the checkout or a folder above it"
	exit 0
	;;
esac
for d in "$@"; do
	case "$res/" in
	"$root/$d/"*)
		echo "it is in the source folder $d"
		exit 0
		;;
	esac
done
