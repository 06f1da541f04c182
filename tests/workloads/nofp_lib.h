#ifndef PERFBPF_NOFP_LIB_H
#define PERFBPF_NOFP_LIB_H
#include <stdint.h>
uint64_t nofp_lib_middle(uint64_t n, uint64_t (*next)(uint64_t));
uint64_t nofp_lib_leaf(uint64_t n);
#endif
