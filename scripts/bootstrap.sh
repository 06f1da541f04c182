#!/usr/bin/env bash
# Installs what perfbpf needs from Debian 12 (only what is missing) and builds it.
#   scripts/bootstrap.sh            build into ./build (BUILD_DIR overrides)
# Idempotent: a second run installs nothing and rebuilds only what changed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}

packages=(
	build-essential cmake pkg-config clang llvm bpftool libbpf-dev libelf-dev libdw-dev zlib1g-dev liblzma-dev xz-utils
	catch2 nlohmann-json3-dev libcli11-dev libfmt-dev libboost-dev binutils python3 python3-jsonschema python3-yaml
	libcapstone-dev     # return sites and probe-ability from machine code
	libcpp-httplib-dev  # --serve and the agent's /metrics
	libjs-chart.js      # the HTML report's charts, inlined
	libc6-dbg           # debug files the symbol tests resolve through
	libclang-rt-14-dev  # the report loader's libFuzzer target
	libcap2-bin         # setcap: the capability tests
	# real workloads and witnesses of the [bpf] tests (stress-ng also saturates the machine)
	golang-go stress-ng nginx apache2-utils bpftrace prometheus chromium fonts-dejavu-core python3-websocket
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "bootstrap: installing ${missing[*]}"
	if [[ $(id -u) -ne 0 ]]; then
		echo "bootstrap: missing packages need root: sudo $0" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
echo "bootstrap: built $build_dir/perfbpf"
