/* Reset and IRQ entry for PicoRV32 (PROGADDR_RESET 0x0, PROGADDR_IRQ 0x10). The code runs
 * from the boot ROM; the RAM powers up with garbage. Every (re)start copies .data from the
 * ROM and clears .bss; a cold start also clears .persist (the error counters), which
 * survives the warm restart that follows a trap; .noinit (the frame buffers) is never
 * cleared. */
#include "skyspike_regs.h"
#include "picorv32.h"

    .section .text.start, "ax"
    .option push
    .option norvc
    .option norelax
    .globl _start
_start:                                   /* SOC_RESET_VECTOR */
    li   a0, 0                            /* cold start */
    j    _boot
    .org SOC_IRQ_VECTOR - SOC_RESET_VECTOR
    .globl _irq_vector
_irq_vector:                              /* SOC_IRQ_VECTOR: IRQs are off until retirq */
    addi sp, sp, -64
    sw   ra,  0(sp)
    sw   t0,  4(sp)
    sw   t1,  8(sp)
    sw   t2, 12(sp)
    sw   a0, 16(sp)
    sw   a1, 20(sp)
    sw   a2, 24(sp)
    sw   a3, 28(sp)
    sw   a4, 32(sp)
    sw   a5, 36(sp)
    sw   a6, 40(sp)
    sw   a7, 44(sp)
    sw   t3, 48(sp)
    sw   t4, 52(sp)
    sw   t5, 56(sp)
    sw   t6, 60(sp)
    PICORV32_GETQ(a0, 1)                  /* a0 = q1: the IRQs being served */
    call fw_irq
    beqz a0, 1f
    PICORV32_SETQ(0, a0)                  /* q0 = restart address: retirq goes there */
1:
    lw   ra,  0(sp)
    lw   t0,  4(sp)
    lw   t1,  8(sp)
    lw   t2, 12(sp)
    lw   a0, 16(sp)
    lw   a1, 20(sp)
    lw   a2, 24(sp)
    lw   a3, 28(sp)
    lw   a4, 32(sp)
    lw   a5, 36(sp)
    lw   a6, 40(sp)
    lw   a7, 44(sp)
    lw   t3, 48(sp)
    lw   t4, 52(sp)
    lw   t5, 56(sp)
    lw   t6, 60(sp)
    addi sp, sp, 64
    PICORV32_RETIRQ()
    .option pop

    .text
    .globl _reset
_reset:                                   /* warm restart (after a trap) */
    li   a0, 1
_boot:
    li   t0, -1
    PICORV32_MASKIRQ(zero, t0)            /* all IRQs masked until hal_init */
    la   sp, __stack_top
    bnez a0, 1f                           /* warm: keep .persist */
    la   t0, __persist_start
    la   t1, __persist_end
4:  bgeu t0, t1, 1f
    sw   zero, 0(t0)
    addi t0, t0, 4
    j    4b
1:  la   t0, __data_load                  /* .data: ROM -> RAM */
    la   t1, __data_start
    la   t2, __data_end
5:  bgeu t1, t2, 6f
    lw   t3, 0(t0)
    sw   t3, 0(t1)
    addi t0, t0, 4
    addi t1, t1, 4
    j    5b
6:  la   t0, __bss_start
    la   t1, __bss_end
2:  bgeu t0, t1, 3f
    sw   zero, 0(t0)
    addi t0, t0, 4
    j    2b
3:  call fw_main
    j    _reset                           /* fw_main does not return */
