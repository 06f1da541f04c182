/*
 * The validation workload's entry on an optimized probe site: a 5-byte NOP, then a call of
 * the plain function, so both sites run the very same body (src/validation/workload.cpp).
 * A call, not a tail jump: perfbpf is a C++ program, so its functions that call are timed by
 * return-site probes, and a tail jump ends the timed call where it jumps.
 */
#if defined(__x86_64__)
	.text
	.globl perfbpf_validate_optimized
	.type perfbpf_validate_optimized, @function
perfbpf_validate_optimized:
	.byte 0x0f, 0x1f, 0x44, 0x00, 0x00
	sub $8, %rsp				/* the callee expects a 16-byte aligned stack */
	call perfbpf_validate_plain
	add $8, %rsp
	ret
	.size perfbpf_validate_optimized, .-perfbpf_validate_optimized
#endif

	.section .note.GNU-stack, "", @progbits
