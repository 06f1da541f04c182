#!/bin/sh
# Installs perfbpf from a build tree into a scratch prefix, then configures, builds and runs
# tests/package against it with find_package(perfbpf): what a user of the library does.
#
#   check_install.sh CMAKE BUILD_DIR PACKAGE_SOURCE_DIR WORK_DIR [CXX_COMPILER]
set -eu

cmake_bin=$1
build_dir=$2
package_src=$3
work=$4
cxx=${5:-}

rm -rf "$work"
mkdir -p "$work"
prefix="$work/prefix"

echo "== install $build_dir into $prefix"
"$cmake_bin" --install "$build_dir" --prefix "$prefix"

# Nothing built only for the build tree may leak into the installed package.
if grep -n "_skel" "$prefix"/lib*/cmake/perfbpf/*.cmake || grep -nF "$build_dir" "$prefix"/lib*/cmake/perfbpf/*.cmake; then
  echo "FAIL: the installed package refers to build-tree targets or paths" >&2
  exit 1
fi

echo "== configure tests/package against it"
set -- -S "$package_src" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ -n "$cxx" ]; then set -- "$@" -DCMAKE_CXX_COMPILER="$cxx"; fi
"$cmake_bin" "$@"

echo "== build"
"$cmake_bin" --build "$work/build"

echo "== run"
out=$("$work/build/package_check")
echo "$out"
case $out in
  *"calls=1 "*) echo "OK" ;;
  *) echo "FAIL: expected 'calls=1' in the output" >&2; exit 1 ;;
esac
