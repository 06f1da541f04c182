/*
 * Functions with known, near-empty bodies, one per probe-site kind, that perfbpf probes in
 * its own process to measure what a probe hit costs (src/session/calibration.cpp). Written
 * in assembly so that the first instruction, which decides the kind, is exactly this.
 */
#if defined(__x86_64__)
	.text

	.p2align 5				/* 16 bytes hold it and padding only (calibration.cpp) */
	.globl perfbpf_calib_optimized
	.type perfbpf_calib_optimized, @function
perfbpf_calib_optimized:
	.byte 0x0f, 0x1f, 0x44, 0x00, 0x00	/* nopl 0x0(%rax,%rax,1): the kernel optimizes this site */
	mov %rdi, %rax
	ret
	.size perfbpf_calib_optimized, .-perfbpf_calib_optimized

	.p2align 5				/* 16 bytes hold it and padding only (calibration.cpp) */
	.globl perfbpf_calib_emulated
	.type perfbpf_calib_emulated, @function
perfbpf_calib_emulated:
	push %rbp				/* emulated by the kernel */
	mov %rdi, %rax
	pop %rbp
	ret
	.size perfbpf_calib_emulated, .-perfbpf_calib_emulated

	.p2align 5				/* 16 bytes hold it and padding only (calibration.cpp) */
	.globl perfbpf_calib_single_stepped
	.type perfbpf_calib_single_stepped, @function
perfbpf_calib_single_stepped:
	mov %rdi, %rax				/* executed out of line, single-stepped */
	ret
	.size perfbpf_calib_single_stepped, .-perfbpf_calib_single_stepped

/*
 * The same three again, for the return-sites method (a probe on the ret, which the kernel
 * single-steps): one function cannot carry both methods at once.
 */
	.p2align 5				/* 16 bytes hold it and padding only (calibration.cpp) */
	.globl perfbpf_calib_rs_optimized
	.type perfbpf_calib_rs_optimized, @function
perfbpf_calib_rs_optimized:
	.byte 0x0f, 0x1f, 0x44, 0x00, 0x00
	mov %rdi, %rax
	ret
	.size perfbpf_calib_rs_optimized, .-perfbpf_calib_rs_optimized

	.p2align 5				/* 16 bytes hold it and padding only (calibration.cpp) */
	.globl perfbpf_calib_rs_emulated
	.type perfbpf_calib_rs_emulated, @function
perfbpf_calib_rs_emulated:
	push %rbp
	mov %rdi, %rax
	pop %rbp
	ret
	.size perfbpf_calib_rs_emulated, .-perfbpf_calib_rs_emulated

	.p2align 5				/* 16 bytes hold it and padding only (calibration.cpp) */
	.globl perfbpf_calib_rs_single_stepped
	.type perfbpf_calib_rs_single_stepped, @function
perfbpf_calib_rs_single_stepped:
	mov %rdi, %rax
	ret
	.size perfbpf_calib_rs_single_stepped, .-perfbpf_calib_rs_single_stepped
#endif

	.section .note.GNU-stack, "", @progbits
