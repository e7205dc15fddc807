#!/bin/sh
# Installs the Debian packages that building, testing and benchmarking ktpack
# need.  Idempotent: when every package is already installed it does nothing,
# so it is cheap to run first on every machine (and in .ci/run).
set -eu

PKGS="make gcc clang pkg-config binutils
libelf-dev zlib1g-dev libzstd-dev liblzma-dev liblz4-dev libbz2-dev nettle-dev
busybox-static libcmocka-dev libclang-rt-14-dev scdoc man-db g++
cpio libarchive-tools gzip zstd xz-utils lz4 bzip2 python3
qemu-system-x86 hyperfine"

# The Debian kernel the boot tests run (make check) is unpacked here, not
# installed: installing it would build a host initrd for nothing.
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

# vmlinuz of the kernel linux-image-amd64 points at, from its .deb.
if [ ! -e "$KERNEL_DIR/vmlinuz" ]; then
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
	mkdir -p "$KERNEL_DIR"
	dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*'
	mv -f "$tmp"/boot/vmlinuz-* "$KERNEL_DIR/"
	ln -sf "$(basename "$(ls "$KERNEL_DIR"/vmlinuz-* | head -n 1)")" "$KERNEL_DIR/vmlinuz.tmp"
	mv -f "$KERNEL_DIR/vmlinuz.tmp" "$KERNEL_DIR/vmlinuz"
fi
