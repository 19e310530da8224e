/* Linker script, preprocessed with the C preprocessor so that RAM size and vectors come
 * from skyspike_regs.h. Everything runs from RAM at SOC_RAM_BASE. */
#include "skyspike_regs.h"

#ifndef FW_STACK_SIZE
#define FW_STACK_SIZE 2048
#endif

OUTPUT_ARCH("riscv")
ENTRY(_start)

MEMORY
{
    RAM (rwx) : ORIGIN = SOC_RAM_BASE, LENGTH = SOC_RAM_SIZE
}

SECTIONS
{
    .text : {
        KEEP(*(.text.start))
        *(.text .text.*)
    } > RAM
    .rodata : { *(.rodata .rodata.* .srodata .srodata.*) } > RAM
    .data : { *(.data .data.* .sdata .sdata.*) } > RAM
    .persist : { . = ALIGN(4); *(.persist) . = ALIGN(4); } > RAM
    .bss (NOLOAD) : {
        . = ALIGN(4);
        __bss_start = .;
        *(.sbss .sbss.* .bss .bss.* COMMON)
        . = ALIGN(4);
        __bss_end = .;
    } > RAM
    .noinit (NOLOAD) : { . = ALIGN(4); *(.noinit .noinit.*) . = ALIGN(4); } > RAM
    __stack_top = ORIGIN(RAM) + LENGTH(RAM);
    _end = .;
    /DISCARD/ : { *(.comment) *(.note .note.*) *(.eh_frame*) }
}

ASSERT(_irq_vector == SOC_IRQ_VECTOR, "the IRQ entry is not at PROGADDR_IRQ")
ASSERT(_start == SOC_RESET_VECTOR, "the reset entry is not at PROGADDR_RESET")
/* No copy of .data on a warm restart: mutable state must be .bss (or .persist). */
ASSERT(SIZEOF(.data) == 0, "initialised writable data is not allowed (see start.S)")
ASSERT(_end + FW_STACK_SIZE <= __stack_top, "firmware + stack do not fit in RAM")
