/* Linker script, preprocessed with the C preprocessor so that the memory map and vectors come
 * from skyspike_regs.h. Code and read-only data run from the boot ROM at SOC_ROM_BASE; .data
 * is stored in the ROM after them and copied to the RAM at start (start.S); .persist, .bss,
 * the frame buffers (.noinit) and the stack live in the 1 KB RAM at SOC_RAM_BASE. */
#include "skyspike_regs.h"

#ifndef FW_STACK_SIZE
#define FW_STACK_SIZE 256
#endif

OUTPUT_ARCH("riscv")
ENTRY(_start)

MEMORY
{
    ROM (rx)  : ORIGIN = SOC_ROM_BASE, LENGTH = SOC_ROM_SIZE
    RAM (rw)  : ORIGIN = SOC_RAM_BASE, LENGTH = SOC_RAM_SIZE
}

SECTIONS
{
    .text : {
        KEEP(*(.text.start))
        *(.text .text.*)
    } > ROM
    .rodata : { *(.rodata .rodata.* .srodata .srodata.*) . = ALIGN(4); } > ROM
    .data : {
        . = ALIGN(4);
        __data_start = .;
        *(.data .data.* .sdata .sdata.*)
        . = ALIGN(4);
        __data_end = .;
    } > RAM AT > ROM
    __data_load = LOADADDR(.data);
    /* Zeroed at a cold start only: survives the warm restart that follows a trap. */
    .persist (NOLOAD) : {
        . = ALIGN(4);
        __persist_start = .;
        *(.persist)
        . = ALIGN(4);
        __persist_end = .;
    } > RAM
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
    __rom_end = __data_load + SIZEOF(.data);
    /DISCARD/ : { *(.comment) *(.note .note.*) *(.eh_frame*) }
}

ASSERT(_irq_vector == SOC_IRQ_VECTOR, "the IRQ entry is not at PROGADDR_IRQ")
ASSERT(_start == SOC_RESET_VECTOR, "the reset entry is not at PROGADDR_RESET")
ASSERT(_end + FW_STACK_SIZE <= __stack_top, "data, buffers and stack do not fit in the RAM")
ASSERT(__rom_end <= ORIGIN(ROM) + LENGTH(ROM), "the image does not fit in the boot ROM")
