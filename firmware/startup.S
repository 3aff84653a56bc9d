/* tinycompress bare-metal startup for Cortex-M (Armv6-M to Armv8.1-M).
 *
 * Reset_Handler runs before any C code: it enables the FPU and MVE (CPACR CP10/CP11) when the
 * build uses them, traps unaligned accesses on Armv6-M builds (CCR.UNALIGN_TRP), points VTOR at our vector table (Armv7-M and later), copies .data, zeroes
 * .bss, paints the stack with TC_STACK_PAINT for the high-water mark, then calls tc_main() and
 * exits through semihosting with its return value. Only Armv6-M (Thumb-1) instructions are used
 * so the same file assembles for every core.
 */
    .syntax unified
    .thumb

    .equ TC_STACK_PAINT, 0xC5A5C5A5

    .section .text.Reset_Handler, "ax", %progbits
    .global Reset_Handler
    .type Reset_Handler, %function
    .thumb_func
Reset_Handler:
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    ldr r0, =0xE000ED88         /* CPACR: full access to CP10 and CP11 (FPU, MVE) */
    ldr r1, [r0]
    ldr r2, =(0xF << 20)
    orrs r1, r1, r2
    str r1, [r0]
    dsb
    isb
#endif
#if __ARM_ARCH == 6
    ldr r0, =0xE000ED14         /* CCR.UNALIGN_TRP: read-as-one on Armv6-M, where unaligned */
    ldr r1, [r0]                /* word and halfword accesses always fault; set it so Armv6-M */
    movs r2, #8                 /* code run on an Armv7-M machine faults the same way (the */
    orrs r1, r1, r2             /* write is ignored on an M0) */
    str r1, [r0]
#endif
#if __ARM_ARCH >= 7
    ldr r0, =0xE000ED08         /* VTOR: a bootloader may have left its own table */
    ldr r1, =tc_vector_table
    str r1, [r0]
#endif
    ldr r0, =_estack
    mov sp, r0

    ldr r0, =_sdata             /* copy .data initialisers from flash */
    ldr r1, =_edata
    ldr r2, =_sidata
1:  cmp r0, r1
    bhs 2f
    ldr r3, [r2]
    str r3, [r0]
    adds r0, r0, #4
    adds r2, r2, #4
    b 1b
2:  ldr r0, =_sbss              /* zero .bss */
    ldr r1, =_ebss
    movs r2, #0
3:  cmp r0, r1
    bhs 4f
    str r2, [r0]
    adds r0, r0, #4
    b 3b
4:  ldr r0, =_sstack            /* paint the stack (nothing is on it yet) */
    mov r1, sp
    ldr r2, =TC_STACK_PAINT
5:  cmp r0, r1
    bhs 6f
    str r2, [r0]
    adds r0, r0, #4
    b 5b
6:  bl tc_main
    bl tc_exit                  /* r0 = tc_main's return value; does not return */
7:  b 7b
    .size Reset_Handler, . - Reset_Handler

/* Every fault and unexpected exception: report the stacked frame and exit non-zero. */
    .section .text.tc_fault_entry, "ax", %progbits
    .global tc_fault_entry
    .type tc_fault_entry, %function
    .thumb_func
tc_fault_entry:
    mrs r0, msp                 /* only MSP is used: no RTOS, no threads */
    mrs r1, ipsr
    bl tc_fault
8:  b 8b
    .size tc_fault_entry, . - tc_fault_entry
