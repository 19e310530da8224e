/* hal.h on the host: the firmware's command loop (src/proto.c) over stdin/stdout, against
 * an emulated core -- the same emulation as skyspike.emu.core_model.CoreModel, so that
 * tests/firmware/test_firmware.py can run identical traffic through both and compare replies and
 * counters. "Cycles" are microseconds here.
 *
 *   fwhost CAPS0 CAPS1 CAPS2 CAPS3 [--hang] [--interbyte-us N] [--trace-timeouts]
 *
 * --hang: inferences never finish (until aborted); SIGUSR1 / SIGUSR2 turn that on / off.
 * --trace-timeouts: write 'T' to stderr when the inter-byte timeout fires (after which the
 * buffered bytes are resolved before any new input is read).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "skyspike_regs.h"
#include "hal.h"
#include "proto.h"

volatile uint32_t core_irq_seen;
volatile uint32_t fw_counters[PROTO_NUM_COUNTERS];

static uint32_t interbyte_us = 50000;
static int trace_timeouts;

void hal_rx_timeout(void)
{
    if (trace_timeouts && write(2, "T", 1) < 0)
        exit(1);
}

uint32_t hal_cycles(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
}
uint32_t hal_interbyte_timeout(void) { return interbyte_us; }
uint32_t hal_tx_timeout(void) { return 1000000; }

/* ---- UART = stdin / stdout ---- */
static uint8_t inbuf[4096];
static size_t in_pos, in_len;
static uint8_t outbuf[PROTO_MAX_FRAME];
static size_t out_len;

int hal_uart_rx(void)
{
    if (in_pos == in_len) {
        struct pollfd pfd = {.fd = 0, .events = POLLIN};
        if (poll(&pfd, 1, 1) <= 0)             /* 1 ms: do not spin while idle */
            return -1;
        ssize_t n = read(0, inbuf, sizeof inbuf);
        if (n == 0)
            exit(0);                            /* host closed the link */
        if (n < 0)
            return errno == EINTR || errno == EAGAIN ? -1 : (exit(1), -1);
        in_pos = 0;
        in_len = (size_t)n;
    }
    return inbuf[in_pos++];
}
/* Like the SoC's FIFO: RX_WORD only for whole words already read from stdin. */
uint32_t hal_uart_status(void)
{
    return (in_len - in_pos >= 4 ? SOC_UART_ST_RX_WORD : 0) | (out_len < sizeof outbuf ? SOC_UART_ST_TX_READY : 0);
}
uint32_t hal_uart_rx_word(void)
{
    uint32_t w = (uint32_t)inbuf[in_pos] | (uint32_t)inbuf[in_pos + 1] << 8 | (uint32_t)inbuf[in_pos + 2] << 16 |
                 (uint32_t)inbuf[in_pos + 3] << 24;
    in_pos += 4;
    return w;
}
int hal_uart_errors(void) { return 0; }
void hal_uart_set_divisor(uint32_t divisor) { (void)divisor; }   /* a pipe has no baud rate */
int hal_uart_tx_ready(void) { return out_len < sizeof outbuf; }
void hal_uart_tx(uint8_t byte) { outbuf[out_len++] = byte; }
void hal_uart_flush(void)
{
    size_t done = 0;
    while (done < out_len) {
        ssize_t n = write(1, outbuf + done, out_len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            exit(1);
        }
        done += (size_t)n;
    }
    out_len = 0;
}

/* ---- emulated core (skyspike.emu.core_model.CoreModel; hw/skyspike_hw/core.py) ---- */
static uint32_t caps[4];
static uint32_t status, cycles, net, irq_en, bus_err, refused, bus_addr;
static volatile sig_atomic_t hang;
static uint32_t *desc, *counts, *state, *inputs, *weights;
static uint32_t n_desc, n_counts, n_state, n_inputs, n_weights;
static int in_irq;

enum { R_NONE, R_REGS, R_DESC, R_COUNTS, R_STATE, R_INPUTS, R_WEIGHTS };

static int region(uint32_t off, uint32_t **word)
{
#define IN(kind, base, n, arr) \
    if (off >= (base) && off < (base) + 4 * (n)) { *word = &(arr)[(off - (base)) / 4]; return kind; }
    if (off < SKYSPIKE_REG_BLOCK)
        return R_REGS;
    IN(R_DESC, SKYSPIKE_DESC_BASE, n_desc, desc)
    IN(R_COUNTS, SKYSPIKE_COUNT_BASE, n_counts, counts)
    IN(R_STATE, SKYSPIKE_STATE_BASE, n_state, state)
    IN(R_INPUTS, SKYSPIKE_INPUT_BASE, n_inputs, inputs)
    IN(R_WEIGHTS, SKYSPIKE_WEIGHT_BASE, n_weights, weights)
#undef IN
    return R_NONE;
}

static void flag(uint32_t off, int write_refused)
{
    bus_addr = off;
    if (write_refused)
        refused = 1;
    else
        bus_err = 1;
}

uint32_t core_rd(uint32_t off)
{
    uint32_t *p = 0;
    int r = region(off, &p);
    if (r != R_REGS && r != R_NONE)
        return *p;
    if (r == R_REGS) {
        switch (off) {
        case SKYSPIKE_REG_ID: return SKYSPIKE_CORE_ID;
        case SKYSPIKE_REG_VERSION: return SKYSPIKE_CORE_VERSION;
        case SKYSPIKE_REG_CAPS0: return caps[0];
        case SKYSPIKE_REG_CAPS1: return caps[1];
        case SKYSPIKE_REG_CAPS2: return caps[2];
        case SKYSPIKE_REG_CAPS3: return caps[3];
        case SKYSPIKE_REG_STATUS:
            return status | (bus_err ? SKYSPIKE_STATUS_BUS_ERROR : 0) | (refused ? SKYSPIKE_STATUS_WRITE_REFUSED : 0);
        case SKYSPIKE_REG_NET: return net;
        case SKYSPIKE_REG_CYCLES: return cycles;
        case SKYSPIKE_REG_CTRL: return irq_en ? SKYSPIKE_CTRL_IRQ_EN : 0;
        case SKYSPIKE_REG_BUS_ADDR: return bus_addr;
        default: break;
        }
    }
    flag(off, 0);                              /* unmapped */
    return 0;
}

static void start(void)
{
    memset(counts, 0, 4 * n_counts);
    if (hang) {
        status = SKYSPIKE_STATUS_BUSY;
        cycles = 0;
        return;
    }
    uint32_t layers = net & 0xFF, steps = (net >> 8) & 0xFF;
    if (layers == 0 || layers > (caps[0] >> 24)) {
        status = SKYSPIKE_STATUS_DONE | SKYSPIKE_ERR_BAD_LAYER_COUNT << SKYSPIKE_STATUS_ERROR_SHIFT;
        cycles = 2;
        return;
    }
    /* The model's stand-in inference: deterministic counts and state (CoreModel._start), salted
     * with the whole input buffer, each word weighted by its index (streams check where every
     * word of their pages landed). */
    uint32_t salt = 0;
    for (uint32_t k = 0; k < n_inputs; k++)
        salt += inputs[k] * (k + 1);
    salt ^= salt >> 16;
    salt ^= salt >> 8;
    for (uint32_t i = 0; i < n_counts; i++)
        counts[i] = (i * 3 + layers + steps + salt) & 0xFF;
    for (uint32_t e = 0; e < n_state; e++)
        state[e] = ((e * 37 + steps + salt) & 0xFFFF) | (e & 1) << 16;
    cycles = 100 * layers * (steps ? steps : 1);
    status = SKYSPIKE_STATUS_DONE;
}

void core_wr(uint32_t off, uint32_t value)
{
    uint32_t *p = 0;
    int r = region(off, &p);
    int busy = status & SKYSPIKE_STATUS_BUSY;
    if (r == R_NONE || r == R_COUNTS || r == R_STATE ||
        (r == R_REGS && off != SKYSPIKE_REG_CTRL && off != SKYSPIKE_REG_NET)) {
        flag(off, 0);                          /* unmapped or read-only */
    } else if (off == SKYSPIKE_REG_CTRL) {
        irq_en = (value & SKYSPIKE_CTRL_IRQ_EN) != 0;
        if (value & (SKYSPIKE_CTRL_CLEAR_FLAGS | SKYSPIKE_CTRL_ABORT))
            bus_err = refused = 0;
        if (value & SKYSPIKE_CTRL_ABORT)
            status = 0;
        else if ((value & SKYSPIKE_CTRL_START) && !busy)
            start();
        /* irq = done & irq_en, delivered like PicoRV32 would (not while serving one). */
        if (irq_en && (status & SKYSPIKE_STATUS_DONE) && !in_irq) {
            in_irq = 1;
            core_wr(SKYSPIKE_REG_CTRL, 0);     /* what fw_irq does on the SoC */
            if (!core_irq_seen)
                fw_counters[PROTO_CNT_CORE_IRQ]++;
            core_irq_seen = 1;
            in_irq = 0;
        }
    } else if (busy) {
        flag(off, 1);                          /* frozen while running */
    } else if (off == SKYSPIKE_REG_NET) {
        net = value;
    } else {
        *p = value;
    }
}

uint32_t hal_bus_error(void) { return 0; }

static void on_signal(int sig) { hang = sig == SIGUSR1; }

int main(int argc, char **argv)
{
    signal(SIGUSR1, on_signal);
    signal(SIGUSR2, on_signal);
    if (argc < 5) {
        fprintf(stderr, "usage: %s CAPS0 CAPS1 CAPS2 CAPS3 [--hang] [--interbyte-us N]\n", argv[0]);
        return 2;
    }
    for (int i = 0; i < 4; i++)
        caps[i] = (uint32_t)strtoul(argv[1 + i], NULL, 0);
    for (int i = 5; i < argc; i++) {
        if (!strcmp(argv[i], "--hang"))
            hang = 1;
        else if (!strcmp(argv[i], "--trace-timeouts"))
            trace_timeouts = 1;
        else if (!strcmp(argv[i], "--interbyte-us") && i + 1 < argc)
            interbyte_us = (uint32_t)strtoul(argv[++i], NULL, 0);
    }
    n_desc = (caps[0] >> 24) * SKYSPIKE_DESC_WORDS;
    n_counts = caps[2] >> 16;
    n_state = caps[2] & 0xFFFF;
    n_inputs = ((caps[3] >> 16) & 0xFF) * ((caps[3] >> 24) & 0xFF) * 256;
    n_weights = (caps[0] & 0xFF) * (caps[3] & 0xFFFF);
    desc = calloc(n_desc + 1, 4);
    counts = calloc(n_counts + 1, 4);
    state = calloc(n_state + 1, 4);
    inputs = calloc(n_inputs + 1, 4);
    weights = calloc(n_weights + 1, 4);
    proto_init(1);
    proto_loop();
}
