# bpf_object(<name> <source.bpf.c> [CPU v1|v2|v3] [HEADERS h...])
#
# Compiles one CO-RE BPF program with clang and generates its libbpf skeleton into the build
# tree, exposing an INTERFACE target <name>_skel whose include path holds <name>.skel.h.
# CPU: the BPF instruction set (clang's -mcpu); v3 has atomics that return a value (Linux 5.12+).
# Every BPF object goes through this one function; nothing generated is ever committed.

find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)
# The DWARF clang's -g writes is for debuggers; libbpf and the kernel read BTF and .BTF.ext
# (line info included), which stay. Stripped, an object embedded in perfbpf is ~5x smaller,
# and opening its skeleton reads (maps) that much less of perfbpf's file.
find_program(BPF_STRIP NAMES llvm-strip llvm-strip-14 REQUIRED)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  set(BPF_TARGET_ARCH x86)
  set(VMLINUX_ARCH x86_64)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(BPF_TARGET_ARCH arm64)
  set(VMLINUX_ARCH aarch64)
else()
  message(FATAL_ERROR "perfbpf: no BPF support for architecture '${CMAKE_SYSTEM_PROCESSOR}' "
                      "(add vmlinux/<arch>/vmlinux.h with scripts/gen-vmlinux.sh and map it here)")
endif()

set(VMLINUX_DIR "${PROJECT_SOURCE_DIR}/vmlinux/${VMLINUX_ARCH}")
if(NOT EXISTS "${VMLINUX_DIR}/vmlinux.h")
  message(FATAL_ERROR "perfbpf: ${VMLINUX_DIR}/vmlinux.h is missing "
                      "(run scripts/gen-vmlinux.sh on a ${VMLINUX_ARCH} machine with BTF)")
endif()

if(NOT TARGET bpf_objects)
  add_custom_target(bpf_objects)
endif()

function(bpf_object name source)
  cmake_parse_arguments(ARG "" "CPU" "HEADERS" ${ARGN})
  set(cpu_flag "")
  if(ARG_CPU)
    set(cpu_flag "-mcpu=${ARG_CPU}")
  endif()
  set(src "${CMAKE_CURRENT_SOURCE_DIR}/${source}")
  set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/bpf")
  set(obj "${out_dir}/${name}.bpf.o")
  set(skel "${out_dir}/${name}.skel.h")
  set(deps "")
  foreach(h IN LISTS ARG_HEADERS)
    list(APPEND deps "${CMAKE_CURRENT_SOURCE_DIR}/${h}")
  endforeach()

  add_custom_command(
    OUTPUT "${obj}"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${out_dir}"
    COMMAND ${BPF_CLANG} -g -O2 -target bpf ${cpu_flag} -D__TARGET_ARCH_${BPF_TARGET_ARCH}
            -Wall -Werror -I "${VMLINUX_DIR}" -I "${PROJECT_SOURCE_DIR}/bpf"
            -c "${src}" -o "${obj}"
    COMMAND ${BPF_STRIP} -g "${obj}"
    DEPENDS "${src}" ${deps} "${VMLINUX_DIR}/vmlinux.h"
    COMMENT "BPF ${name}.bpf.o"
    VERBATIM)
  add_custom_command(
    OUTPUT "${skel}"
    COMMAND ${BPFTOOL} gen skeleton "${obj}" name "${name}_bpf" > "${skel}"
    DEPENDS "${obj}"
    COMMENT "BPF skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS "${skel}")
  add_dependencies(bpf_objects ${name}_skel_gen)

  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE "${out_dir}" "${PROJECT_SOURCE_DIR}/bpf")
endfunction()
