/* The hardware layer under the protocol code (proto.c): the SoC build implements it in
 * hal_soc.c, the host build (tests: the same command loop over stdin/stdout against an
 * emulated core) in ../host/hal_host.c. */
#ifndef HAL_H
#define HAL_H

#include <stdint.h>

/* Time base in CPU clock cycles (rdcycle); only differences are used, so it may wrap. */
uint32_t hal_cycles(void);
/* Silence (cycles) after which a partial frame is declared truncated. */
uint32_t hal_interbyte_timeout(void);
/* Longest wait (cycles) for tx_ready before a reply is abandoned. */
uint32_t hal_tx_timeout(void);

/* UART: a received byte or -1 (never blocks long). One bus read on the SoC, inline there:
 * the stream's receive loop has ~80 cycles a byte at 12.5 Mbaud. */
#ifdef HAL_SOC
#include "skyspike_regs.h"
static inline __attribute__((always_inline)) int hal_uart_rx(void)
{
    uint32_t d = *(volatile uint32_t *)(uintptr_t)(SOC_UART_BASE + SOC_UART_DATA);   /* pops a byte */
    return (d & SOC_UART_DATA_RX_EMPTY) ? -1 : (int)(d & 0xFF);
}
/* The UART's STATUS in one bus read: SOC_UART_ST_RX_WORD (four received bytes wait) and
 * SOC_UART_ST_TX_READY (hal_uart_tx would not stall) are the bits the stream's loop tests. */
static inline __attribute__((always_inline)) uint32_t hal_uart_status(void)
{
    return *(volatile uint32_t *)(uintptr_t)(SOC_UART_BASE + SOC_UART_STATUS);
}
/* Four received bytes, the oldest in [7:0]: only after hal_uart_status() showed RX_WORD. */
static inline __attribute__((always_inline)) uint32_t hal_uart_rx_word(void)
{
    return *(volatile uint32_t *)(uintptr_t)(SOC_UART_BASE + SOC_UART_RXWORD);   /* pops four bytes */
}
#else
int hal_uart_rx(void);
uint32_t hal_uart_status(void);
uint32_t hal_uart_rx_word(void);
#endif
/* Counts and clears the UART's sticky overrun / framing errors (called when the line is quiet,
 * and after every image of a stream); returns nonzero if the receiver overflowed. */
int hal_uart_errors(void);
/* The inter-byte timeout fired (a hook for the host build's tests; nothing on the SoC). */
void hal_rx_timeout(void);
/* After the last byte has left the transmitter (bounded wait): clock cycles per bit from now on. */
void hal_uart_set_divisor(uint32_t divisor);
int hal_uart_tx_ready(void);
void hal_uart_tx(uint8_t byte);
void hal_uart_flush(void);

/* SNN core: 32-bit accesses at a byte offset within SKYSPIKE_CORE_SPAN. */
uint32_t core_rd(uint32_t offset);
void core_wr(uint32_t offset, uint32_t value);
/* The SoC bus-error register: the address of the first unmapped access since the last
 * call (0 = none); clears it. */
uint32_t hal_bus_error(void);

/* Set by the interrupt handler when the core's irq arrives (it also clears CTRL.irq_en). */
extern volatile uint32_t core_irq_seen;

/* Error / event counters (PROTO_CNT_*), kept across a warm restart after a trap. */
extern volatile uint32_t fw_counters[];

#endif /* HAL_H */
