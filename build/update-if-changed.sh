#!/bin/sh
# Writes its arguments to FILE only when they differ from what FILE holds,
# so that FILE's mtime tells make when a make variable (a blob's source
# path, the compiler flags) changed.
#   update-if-changed.sh FILE TEXT...
set -eu
f=$1
shift
new="$*"
if [ ! -f "$f" ] || [ "$(cat "$f")" != "$new" ]; then
	mkdir -p "$(dirname "$f")"
	printf '%s\n' "$new" > "$f.tmp.$$"
	mv -f "$f.tmp.$$" "$f"
fi
