/*
 * The validation workload's entry on an optimized probe site: a 5-byte NOP, then a tail jump
 * into the plain function, so both sites run the very same body (src/validation/workload.cpp).
 */
#if defined(__x86_64__)
	.text
	.globl perfbpf_validate_optimized
	.type perfbpf_validate_optimized, @function
perfbpf_validate_optimized:
	.byte 0x0f, 0x1f, 0x44, 0x00, 0x00
	jmp perfbpf_validate_plain
	.size perfbpf_validate_optimized, .-perfbpf_validate_optimized
#endif

	.section .note.GNU-stack, "", @progbits
