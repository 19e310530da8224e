/* hal.h for the PicoRV32 SoC (addresses: skyspike_regs.h). */
#include <stdint.h>

#include "skyspike_regs.h"
#include "picorv32.h"
#include "hal.h"

#define MMIO(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#define UART(reg) MMIO(SOC_UART_BASE + SOC_UART_##reg)

/* Bounds for the waits, in CPU cycles; a character is 10 bit times of DIVISOR cycles. */
#ifndef FW_INTERBYTE_CHARS
#define FW_INTERBYTE_CHARS 16        /* silence inside a frame before it counts as truncated */
#endif
#ifndef FW_MIN_TIMEOUT
#define FW_MIN_TIMEOUT 20000         /* floor of both timeouts (cycles) */
#endif

volatile uint32_t core_irq_seen;
/* In the image (not .bss), so start.S's clearing of .bss on a warm restart keeps them. */
volatile uint32_t fw_counters[PROTO_NUM_COUNTERS] __attribute__((section(".persist"))) = {0};

static uint32_t char_cycles;

#ifdef FW_NO_RDCYCLE
/* Without PicoRV32's ENABLE_COUNTERS: each call stands for one pass of a polling loop. */
#ifndef FW_LOOP_CYCLES
#define FW_LOOP_CYCLES 40
#endif
static uint32_t fake_cycles;
uint32_t hal_cycles(void) { return fake_cycles += FW_LOOP_CYCLES; }
#else
uint32_t hal_cycles(void)
{
    uint32_t c;
    __asm__ volatile("rdcycle %0" : "=r"(c));
    return c;
}
#endif

static uint32_t at_least(uint32_t v) { return v < FW_MIN_TIMEOUT ? FW_MIN_TIMEOUT : v; }
uint32_t hal_interbyte_timeout(void) { return at_least(FW_INTERBYTE_CHARS * char_cycles); }
uint32_t hal_tx_timeout(void) { return at_least(4 * char_cycles); }

int hal_uart_errors(void)
{
    uint32_t st = UART(STATUS);
    if (st & SOC_UART_ST_RX_OVERRUN)
        fw_counters[PROTO_CNT_UART_OVERRUN]++;
    if (st & SOC_UART_ST_FRAMING)
        fw_counters[PROTO_CNT_UART_FRAMING]++;
    if (st & (SOC_UART_ST_RX_OVERRUN | SOC_UART_ST_FRAMING))
        UART(STATUS) = 0;                    /* any write clears the sticky bits */
    return (st & SOC_UART_ST_RX_OVERRUN) != 0;
}

void hal_rx_timeout(void) {}

int hal_uart_tx_ready(void) { return (UART(STATUS) & SOC_UART_ST_TX_READY) != 0; }

void hal_uart_set_divisor(uint32_t divisor)
{
    uint32_t t0 = hal_cycles();
    while (!hal_uart_tx_ready() && hal_cycles() - t0 <= hal_tx_timeout())
        ;                                    /* the reply's last byte still goes out at the old rate */
    UART(DIVISOR) = divisor;
    char_cycles = 10 * (divisor + 1);
}
void hal_uart_tx(uint8_t byte) { UART(DATA) = byte; }
void hal_uart_flush(void) {}

uint32_t core_rd(uint32_t offset) { return MMIO(SOC_CORE_BASE + offset); }
void core_wr(uint32_t offset, uint32_t value) { MMIO(SOC_CORE_BASE + offset) = value; }

uint32_t hal_bus_error(void)
{
    uint32_t addr = MMIO(SOC_BUSERR_ADDR);
    if (addr)
        MMIO(SOC_BUSERR_ADDR) = 0;   /* any write clears it */
    return addr;
}

/* Called by start.S's IRQ entry with PicoRV32's pending-IRQ bitmask (q1). Returns 0 to
 * resume, or an address to resume at instead (a warm restart after a trap). */
extern void _reset(void);
uint32_t fw_irq(uint32_t irqs)
{
    if (irqs & ((1u << PICORV32_IRQ_TRAP) | (1u << PICORV32_IRQ_MISALIGN))) {
        fw_counters[PROTO_CNT_TRAPS]++;
        return (uint32_t)(uintptr_t)&_reset;
    }
    if (irqs & (1u << SOC_CORE_IRQ)) {
        /* The core's irq is a level (done & irq_en): drop it before returning (CTRL without
         * bit 2). Should the line be latched (LATCHED_IRQ), a second entry finds the flag set. */
        core_wr(SKYSPIKE_REG_CTRL, 0);
        if (!core_irq_seen)
            fw_counters[PROTO_CNT_CORE_IRQ]++;
        core_irq_seen = 1;
    }
    return 0;
}

void hal_init(void)
{
    char_cycles = 10 * (UART(DIVISOR) + 1);
    UART(STATUS) = SOC_UART_ST_RX_OVERRUN | SOC_UART_ST_FRAMING;
    (void)hal_bus_error();
    core_wr(SKYSPIKE_REG_CTRL, 0);
    core_irq_seen = 0;
    /* Unmask the core's IRQ and the traps (masked traps would halt the CPU). */
    picorv32_maskirq(~((1u << SOC_CORE_IRQ) | (1u << PICORV32_IRQ_TRAP) | (1u << PICORV32_IRQ_MISALIGN)));
}
