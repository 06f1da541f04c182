#!/bin/sh
# make_minidebuginfo.sh IN OUT: strips IN into OUT with MiniDebugInfo, as Fedora's
# find-debuginfo does: .gnu_debugdata holds, xz-compressed, an ELF file whose only content is
# a symbol table of the functions .dynsym lacks.
set -eu
in=$1
out=$2
tmp=$out.mdi.d
rm -rf "$tmp"
mkdir -p "$tmp"
nm -D "$in" --format=posix --defined-only | awk '{ print $1 }' | sort > "$tmp/dynsyms"
nm "$in" --format=posix --defined-only | awk '$2 == "T" || $2 == "t" { print $1 }' | sort > "$tmp/funcsyms"
comm -13 "$tmp/dynsyms" "$tmp/funcsyms" > "$tmp/keep"
objcopy --only-keep-debug "$in" "$tmp/debug"
objcopy -S --remove-section .gdb_index --remove-section .comment --keep-symbols="$tmp/keep" "$tmp/debug" "$tmp/mini"
xz --force --keep "$tmp/mini"
objcopy --strip-all --remove-section .gnu_debuglink --add-section .gnu_debugdata="$tmp/mini.xz" "$in" "$out"
rm -rf "$tmp"
