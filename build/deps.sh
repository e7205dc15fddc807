#!/bin/sh
# Installs the Debian packages that building, testing and benchmarking ktpack
# need.  Idempotent: when every package is already installed it does nothing,
# so it is cheap to run first on every machine (and in .ci/run).
set -eu

PKGS="make gcc clang pkg-config binutils
libelf-dev zlib1g-dev libzstd-dev
busybox-static libcmocka-dev libclang-rt-14-dev
cpio libarchive-tools gzip zstd file
qemu-system-x86 hyperfine"

missing=
for p in $PKGS; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing="$missing $p"
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing Debian packages:$missing (run 'make deps' as root)" >&2
		exit 1
	fi
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
fi
