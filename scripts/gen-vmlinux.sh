#!/usr/bin/env bash
# Regenerates vmlinux/<arch>/vmlinux.h from a BTF file and rebuilds the BPF objects to prove
# the new header still compiles. The header is checked in so that a build never depends on
# the kernel of the build host (CO-RE relocates field offsets at load time instead).
#
#   scripts/gen-vmlinux.sh [BTF_FILE] [ARCH]
#     BTF_FILE  defaults to /sys/kernel/btf/vmlinux
#     ARCH      defaults to the host architecture (uname -m)
set -euo pipefail

btf=${1:-/sys/kernel/btf/vmlinux}
arch=${2:-$(uname -m)}
root=$(cd "$(dirname "$0")/.." && pwd)

case "$arch" in
x86_64 | aarch64) ;;
*)
	echo "gen-vmlinux: unsupported architecture '$arch'" >&2
	exit 2
	;;
esac
if [[ ! -r $btf ]]; then
	echo "gen-vmlinux: cannot read BTF file '$btf' (kernel built without CONFIG_DEBUG_INFO_BTF?)" >&2
	exit 1
fi
command -v bpftool >/dev/null || { echo "gen-vmlinux: bpftool not found (apt-get install bpftool)" >&2; exit 1; }

out="$root/vmlinux/$arch/vmlinux.h"
mkdir -p "$(dirname "$out")"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
bpftool btf dump file "$btf" format c >"$tmp"
chmod 644 "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "gen-vmlinux: wrote $out ($(wc -l <"$out") lines)"

if [[ -d "$root/build" ]]; then
	cmake --build "$root/build" --target bpf_objects
fi
