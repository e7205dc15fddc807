#!/bin/sh
# Seeds for fuzz_bzimage: small bzImages (a 1024-byte setup header and a
# payload) with a payload compressed by each tool the kernel's build uses.
#   seed_bzimage.sh OUTDIR
set -eu
out=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -c 3000 /bin/true > "$tmp/elf"
i=0
for tool in "gzip -9nc" "xz --check=crc32 -c" "zstd -qc" "lz4 -lqc" "bzip2 -c" "xz --format=lzma -c" cat; do
	$tool < "$tmp/elf" > "$tmp/p"
	len=$(wc -c < "$tmp/p")
	python3 - "$tmp/p" "$out/seed$i" "$len" <<'PY'
import struct, sys
p = open(sys.argv[1], 'rb').read()
h = bytearray(1024)
h[0x1f1] = 1
h[0x1fe:0x200] = b'\x55\xaa'
h[0x202:0x206] = b'HdrS'
h[0x206:0x208] = struct.pack('<H', 0x20f)
h[0x20e:0x210] = struct.pack('<H', 0x100)
h[0x300:0x310] = b'6.9.0-seed (x) #'
h[0x248:0x250] = struct.pack('<II', 0, len(p))
open(sys.argv[2], 'wb').write(bytes(h) + p)
PY
	i=$((i + 1))
done

# An arm64 Image (its header's magic, a banner) raw and gzip'd.
python3 - "$out/seed-image" <<'PY'
import sys
b = bytearray(4096)
b[0x38:0x3c] = b'ARM\x64'
b[0x200:0x200 + 31] = b'Linux version 6.1.0-seed-arm64 '
open(sys.argv[1], 'wb').write(bytes(b))
PY
gzip -nc "$out/seed-image" > "$out/seed-image.gz"
