#!/bin/sh
# Installs the Debian packages that building, testing and benchmarking ktpack
# need.  Idempotent: when every package is already installed it does nothing,
# so it is cheap to run first on every machine (and in .ci/run).
set -eu

PKGS="make gcc clang pkg-config binutils
libelf-dev zlib1g-dev libzstd-dev liblzma-dev liblz4-dev libbz2-dev nettle-dev
busybox-static libcmocka-dev libclang-rt-14-dev scdoc man-db g++
cpio libarchive-tools gzip zstd xz-utils lz4 bzip2 python3
qemu-system-x86 hyperfine kmod bpftool"

# The Debian kernel the boot tests run (make check) is unpacked here, not
# installed: installing it would build a host initrd for nothing.  Its
# module tree goes beside it (lib/modules/<version>, with depmod's index),
# where ktpack looks for the modules of a kernel it boots.
KERNEL_DIR=${KTPACK_KERNEL_DIR:-/var/cache/ktpack}

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

# vmlinuz and the module tree of the kernel linux-image-amd64 points at,
# from its .deb.
ver=
[ -e "$KERNEL_DIR/vmlinuz" ] && ver=$(basename "$(readlink "$KERNEL_DIR/vmlinuz")" | sed 's/^vmlinuz-//')
if [ ! -e "$KERNEL_DIR/vmlinuz" ] || [ ! -s "$KERNEL_DIR/lib/modules/$ver/modules.dep" ]; then
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | head -n 1)
	if [ -z "$pkg" ]; then
		apt-get update -q
		pkg=$(apt-cache depends linux-image-amd64 |
			sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | head -n 1)
	fi
	[ -n "$pkg" ] || { echo "deps: no Debian kernel package found" >&2; exit 1; }
	echo "deps: unpacking $pkg into $KERNEL_DIR"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	chmod 0755 "$tmp"
	chown _apt "$tmp" 2>/dev/null || true
	(cd "$tmp" && apt-get download -q "$pkg")
	mkdir -p "$KERNEL_DIR/lib/modules"
	dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*' './lib/modules/*'
	ver=$(basename "$(ls "$tmp"/boot/vmlinuz-* | head -n 1)" | sed 's/^vmlinuz-//')
	# the index first, in the staging tree: a tree without it is not taken
	depmod -b "$tmp" "$ver"
	rm -rf "$KERNEL_DIR/lib/modules/$ver.old"
	[ ! -e "$KERNEL_DIR/lib/modules/$ver" ] || mv "$KERNEL_DIR/lib/modules/$ver" "$KERNEL_DIR/lib/modules/$ver.old"
	mv "$tmp/lib/modules/$ver" "$KERNEL_DIR/lib/modules/$ver"
	rm -rf "$KERNEL_DIR/lib/modules/$ver.old"
	mv -f "$tmp"/boot/vmlinuz-* "$KERNEL_DIR/"
	ln -sf "vmlinuz-$ver" "$KERNEL_DIR/vmlinuz.tmp"
	mv -f "$KERNEL_DIR/vmlinuz.tmp" "$KERNEL_DIR/vmlinuz"
fi
