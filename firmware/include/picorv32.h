/* PicoRV32 custom IRQ instructions (PicoRV32 README, "Custom Instructions for IRQ
 * Handling"; encodings as in its firmware/custom_ops.S). GCC does not know them, so they
 * are emitted with `.insn r CUSTOM_0(0x0B), funct3, funct7, rd, rs1, rs2`; q-registers
 * are numbered 0..3 in the rd/rs1 fields. Needs ENABLE_IRQ=1 and ENABLE_IRQ_QREGS=1. */
#ifndef PICORV32_H
#define PICORV32_H

#ifdef __ASSEMBLER__
/* getq rd, qN       */
#define PICORV32_GETQ(rd, qn)    .insn r 0x0B, 4, 0, rd, x##qn, x0
/* setq qN, rs       */
#define PICORV32_SETQ(qn, rs)    .insn r 0x0B, 2, 1, x##qn, rs, x0
/* retirq            */
#define PICORV32_RETIRQ()        .insn r 0x0B, 0, 2, x0, x0, x0
/* maskirq rd, rs    */
#define PICORV32_MASKIRQ(rd, rs) .insn r 0x0B, 6, 3, rd, rs, x0
#else
#include <stdint.h>

/* Sets the IRQ mask (1 = masked) and returns the previous one. */
static inline uint32_t picorv32_maskirq(uint32_t mask)
{
    register uint32_t a0 __asm__("a0") = mask;
    __asm__ volatile(".insn r 0x0B, 6, 3, a0, a0, x0" : "+r"(a0) : : "memory");
    return a0;
}
#endif

#endif /* PICORV32_H */
