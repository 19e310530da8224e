/* The host link: frame parser and command handlers (docs/protocol.md). Portable: all
 * hardware access goes through hal.h. skyspike.emu.firmware_model.FirmwareModel is the executable
 * specification of this file; tests/firmware/test_firmware.py runs both on the same traffic and
 * compares the replies byte for byte.
 *
 * Never hangs: waiting for the first byte of a frame is the only unbounded wait (the idle
 * state); every other wait (rest of a frame, tx_ready, the core's done) is bounded in CPU
 * cycles and reported (TRUNCATED reply, TX_TIMEOUT counter, TIMEOUT reply + abort). A
 * rejected frame is never executed; a command checks all its arguments before it touches
 * the core, and reports the core's sticky bus flags instead of silently losing accesses. */
#include <stdint.h>

#include "skyspike_regs.h"
#include "crc16.h"
#include "hal.h"
#include "lib.h"
#include "proto.h"

#define CNT(name) fw_counters[PROTO_CNT_##name]
#define CORE_FLAGS (SKYSPIKE_STATUS_BUS_ERROR | SKYSPIKE_STATUS_WRITE_REFUSED)

/* The buffers need no clearing at boot (.noinit: start.S does not zero it). */
#define NOINIT __attribute__((section(".noinit")))
static uint8_t rx[PROTO_MAX_FRAME] NOINIT;
static uint32_t rx_len;
static uint32_t want;            /* bytes scan() needs before its next decision (>= 1) */
static int discarding;           /* inside a run of discarded bytes */

/* A STREAM's state (its request, double-buffer pages, counts) and its input cursor. */
struct stream {
    uint32_t frames, frame_bytes, stride, n_out, out_state, flags, timeout;
    uint32_t page;                    /* the second page's base; 0: one page (no overlap) */
    uint32_t banks, bank_bytes, net;  /* input banks, bytes between banks, NET without input_base */
    uint32_t pending, t_run;          /* a run is on (started at t_run) */
    uint32_t answered, failed, first_status, cycles;
};

/* Where the next input word goes. A frame's whole word w lands in bank w mod banks, row
 * w / banks from the frame's first row; its partial last word (tail bytes) after them. */
struct cursor {
    uint32_t addr, row, left;        /* the word's core offset, its row's (bank 0), banks left in the row */
    uint32_t frame, fleft, frames;   /* the frame's first row, its whole words left, frames left (this one too) */
    uint32_t bank_bytes, banks, stride_bytes, full, tail;
};

/* The transmit buffer. During a STREAM its answers use the first PROTO_STREAM_MAX_ANSWER bytes
 * (and the go-ahead and closing replies fewer), and the stream's state lives past them: the
 * 1 KB RAM has no room for it on the stack (tests/firmware/test_firmware.py checks the stack). */
static union {
    uint8_t bytes[PROTO_MAX_FRAME];
    struct {
        uint8_t answer[PROTO_STREAM_MAX_ANSWER];
        struct stream s;
        struct cursor c;
    } stream;
} txbuf NOINIT __attribute__((aligned(4)));
#define tx (txbuf.bytes)
#define TX_DATA (tx + PROTO_HEADER_SIZE + 1)             /* reply data, after the status byte */
_Static_assert(sizeof txbuf.stream <= sizeof txbuf.bytes, "the stream's state must fit tx[]");

/* Bytes that arrived while a reply was being sent (the UART's FIFO is shallow). */
#define STASH_SIZE 64
static uint8_t stash[STASH_SIZE] NOINIT;
static uint32_t stash_head, stash_len;

static uint32_t get16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t get32(const uint8_t *p) { return get16(p) | get16(p + 2) << 16; }
static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v); put16(p + 2, v >> 16); }

void proto_init(int cold)
{
    if (cold)
        for (int i = 0; i < PROTO_NUM_COUNTERS; i++)
            fw_counters[i] = 0;
    rx_len = 0;
    discarding = 0;
    stash_head = stash_len = 0;
}

/* ---- UART bytes ------------------------------------------------------------------------ */
static void stash_poll(void)
{
    int c = hal_uart_rx();
    if (c < 0)
        return;
    if (stash_len == STASH_SIZE) {
        CNT(UART_OVERRUN)++;                 /* lost, like a FIFO overrun */
        return;
    }
    stash[(stash_head + stash_len++) % STASH_SIZE] = (uint8_t)c;
}

static int stash_pop(void)
{
    uint8_t c = stash[stash_head];
    stash_head = (stash_head + 1) % STASH_SIZE;
    stash_len--;
    return c;
}

static int next_byte(void)
{
    if (stash_len) {
        stash_poll();                        /* keep the FIFO drained while the stash is worked off */
        return stash_pop();
    }
    return hal_uart_rx();
}

/* Up to n bytes that are already in the UART's FIFO, into dst (the stash must be empty);
 * how many. The tight loop that keeps up with fast links: one bus read and a store a byte. */
static uint32_t rx_burst(uint8_t *dst, uint32_t n)
{
    uint8_t *p = dst, *end = dst + n;
    for (int c; p != end && (c = hal_uart_rx()) >= 0;)
        *p++ = (uint8_t)c;
    return (uint32_t)(p - dst);
}

/* The transmit queue (in tx[]): replies are sent whole (send); a STREAM's answers a byte at a
 * time whenever the transmitter is free between received words (pump), so sending never holds
 * up the receiver. */
static uint32_t txq_pos, txq_len;

static void pump(void)
{
    if (txq_pos != txq_len && hal_uart_tx_ready()) {
        hal_uart_tx(tx[txq_pos++]);
        if (txq_pos == txq_len)
            hal_uart_flush();                /* the answer is complete (the host build buffers) */
    }
}

/* Until the queue is empty (bounded per byte; bytes arriving meanwhile go to the stash). */
static void txq_wait(void)
{
    uint32_t t0 = hal_cycles();
    while (txq_pos != txq_len) {
        if (hal_uart_tx_ready()) {
            hal_uart_tx(tx[txq_pos++]);
            t0 = hal_cycles();
            continue;
        }
        stash_poll();                        /* at most a byte in per byte out: fits the stash */
        if (hal_cycles() - t0 > hal_tx_timeout()) {
            CNT(TX_TIMEOUT)++;
            txq_pos = txq_len;               /* abandon the answer; the host times out */
        }
    }
    hal_uart_flush();
}

/* Send tx[0 .. n) and wait until it is out. */
static void send(uint32_t n)
{
    txq_pos = 0;
    txq_len = n;
    txq_wait();
}

/* Frame tx[] as a reply: status byte + `len` data bytes already at TX_DATA. */
static void reply(uint8_t cmd, uint8_t seq, uint8_t status, uint32_t len)
{
    uint32_t plen = len + 1;
    tx[0] = PROTO_SYNC0;
    tx[1] = PROTO_SYNC1;
    tx[2] = PROTO_VERSION;
    tx[3] = (uint8_t)(cmd | PROTO_REPLY_FLAG);
    tx[4] = seq;
    put16(tx + 5, plen);
    tx[PROTO_HEADER_SIZE] = status;
    uint16_t crc = crc16_update(PROTO_CRC_INIT, tx + 2, PROTO_HEADER_SIZE - 2 + plen);
    put16(tx + PROTO_HEADER_SIZE + plen, crc);
    send(PROTO_HEADER_SIZE + plen + PROTO_CRC_SIZE);
}

/* ---- core access helpers ------------------------------------------------------------- */
static uint32_t core_status(void) { return core_rd(SKYSPIKE_REG_STATUS); }
static int core_busy(void) { return (core_status() & SKYSPIKE_STATUS_BUSY) != 0; }
/* STATUS says the run has finished: done and no longer busy. */
static int run_finished(uint32_t st) { return (st & (SKYSPIKE_STATUS_BUSY | SKYSPIKE_STATUS_DONE)) == SKYSPIKE_STATUS_DONE; }

/* Before a command's accesses: drop stale sticky flags (SoC register and core STATUS),
 * keeping CTRL's irq enable as it is. */
static void flags_clear(void)
{
    (void)hal_bus_error();
    if (core_status() & CORE_FLAGS)
        core_wr(SKYSPIKE_REG_CTRL,
                SKYSPIKE_CTRL_CLEAR_FLAGS | (core_rd(SKYSPIKE_REG_CTRL) & SKYSPIKE_CTRL_IRQ_EN));
}

/* After them: PROTO_ST_OK, or BUS_ERROR with the address as reply data, or BUSY when the
 * core refused a write because it was running. */
static uint8_t flags_check(uint32_t *len)
{
    uint32_t addr = hal_bus_error();         /* SoC level: an absolute address */
    uint32_t st = core_status();
    if (!addr && (st & SKYSPIKE_STATUS_BUS_ERROR))
        addr = core_rd(SKYSPIKE_REG_BUS_ADDR);   /* core level: a core byte offset */
    else if (!addr && (st & SKYSPIKE_STATUS_WRITE_REFUSED))
        return PROTO_ST_BUSY;
    else if (!addr)
        return PROTO_ST_OK;
    CNT(BUS_ERROR)++;
    put32(TX_DATA, addr);
    *len = 4;
    return PROTO_ST_BUS_ERROR;
}

/* ---- commands: each returns the status and sets *len to its reply's data bytes -------- */
static uint8_t bad_arg(void)
{
    CNT(BAD_ARG)++;
    return PROTO_ST_BAD_ARG;
}

static uint8_t cmd_identify(const uint8_t *p, uint32_t n, uint32_t *len)
{
    static const uint8_t regs[6] = {SKYSPIKE_REG_ID, SKYSPIKE_REG_VERSION, SKYSPIKE_REG_CAPS0,
                                    SKYSPIKE_REG_CAPS1, SKYSPIKE_REG_CAPS2, SKYSPIKE_REG_CAPS3};
    (void)p;
    if (n != 0)
        return bad_arg();
    TX_DATA[0] = PROTO_VERSION;
    put32(TX_DATA + 1, PROTO_FIRMWARE_VERSION);
    put16(TX_DATA + 5, PROTO_MAX_PAYLOAD);
    for (int i = 0; i < 6; i++)
        put32(TX_DATA + 7 + 4 * i, core_rd(regs[i]));   /* no core: ID reads 0xBAD0ADD5 */
    *len = 31;
    return PROTO_ST_OK;
}

static uint8_t cmd_read_mem(const uint8_t *p, uint32_t n, uint32_t *len)
{
    if (n != 6)
        return bad_arg();
    uint32_t off = get32(p), words = get16(p + 4);
    if ((off & 3) || words > PROTO_MAX_WORDS || off > SKYSPIKE_CORE_SPAN ||
        4 * words > SKYSPIKE_CORE_SPAN - off)
        return bad_arg();
    flags_clear();
    for (uint32_t i = 0; i < words; i++)
        put32(TX_DATA + 4 * i, core_rd(off + 4 * i));
    *len = 4 * words;
    return flags_check(len);
}

/* WRITE_MEM (base 0, limit the core span) and LOAD_INPUTS (the input buffer). */
static uint8_t write_words(const uint8_t *p, uint32_t n, uint32_t base, uint32_t limit, uint32_t *len)
{
    if (n < 4 || ((n - 4) & 3))
        return bad_arg();
    uint32_t off = get32(p), words = (n - 4) / 4;
    if ((off & 3) || off > limit || 4 * words > limit - off)
        return bad_arg();
    /* While the core runs it refuses everything but the register block (CTRL can abort). */
    if (base + off + 4 * words > SKYSPIKE_REG_BLOCK && core_busy())
        return PROTO_ST_BUSY;
    flags_clear();
    for (uint32_t i = 0; i < words; i++)
        core_wr(base + off + 4 * i, get32(p + 4 + 4 * i));
    return flags_check(len);
}

static uint32_t input_bytes(void)
{
    uint32_t caps3 = core_rd(SKYSPIKE_REG_CAPS3);
    uint32_t bytes = 4 * ((caps3 >> 16) & 0xFF) * (((caps3 >> 24) & 0xFF) * 256);
    uint32_t room = SKYSPIKE_CORE_SPAN - SKYSPIKE_INPUT_BASE;
    return bytes < room ? bytes : room;
}

static uint8_t cmd_run(const uint8_t *p, uint32_t n, uint32_t *len)
{
    if (n != 5)
        return bad_arg();
    uint32_t use_irq = p[0] & PROTO_RUN_FLAG_IRQ;
    uint32_t timeout = get32(p + 1);
    if (timeout == 0)
        timeout = PROTO_DEFAULT_RUN_TIMEOUT;
    if (core_busy())
        return PROTO_ST_BUSY;
    (void)hal_bus_error();
    core_irq_seen = 0;
    core_wr(SKYSPIKE_REG_CTRL, SKYSPIKE_CTRL_START | SKYSPIKE_CTRL_CLEAR_FLAGS |
                                   (use_irq ? SKYSPIKE_CTRL_IRQ_EN : 0));
    uint32_t t0 = hal_cycles(), waited;
    int finished = 0;
    for (;;) {
        if (use_irq)
            finished = core_irq_seen != 0;   /* no bus traffic to the core while it runs */
        else
            finished = run_finished(core_status());
        waited = hal_cycles() - t0;
        if (finished || waited > timeout)
            break;
    }
    put32(TX_DATA, core_status());
    put32(TX_DATA + 4, core_rd(SKYSPIKE_REG_CYCLES));
    put32(TX_DATA + 8, finished ? waited : timeout);
    *len = 12;
    if (!finished) {
        CNT(RUN_TIMEOUT)++;
        core_wr(SKYSPIKE_REG_CTRL, SKYSPIKE_CTRL_ABORT);   /* never leave a hung run behind */
        return PROTO_ST_TIMEOUT;
    }
    uint32_t addr = hal_bus_error();
    if (addr) {
        CNT(BUS_ERROR)++;
        put32(TX_DATA, addr);
        *len = 4;
        return PROTO_ST_BUS_ERROR;
    }
    return PROTO_ST_OK;
}

static uint8_t cmd_read_results(const uint8_t *p, uint32_t n, uint32_t *len)
{
    if (n != 8)
        return bad_arg();
    uint32_t cf = get16(p), nc = get16(p + 2), sf = get16(p + 4), ns = get16(p + 6);
    uint32_t caps2 = core_rd(SKYSPIKE_REG_CAPS2);
    if (nc + ns > PROTO_MAX_WORDS || cf + nc > (caps2 >> 16) || sf + ns > (caps2 & 0xFFFF))
        return bad_arg();
    flags_clear();
    uint8_t *d = TX_DATA;
    for (uint32_t i = 0; i < nc; i++, d += 4)
        put32(d, core_rd(SKYSPIKE_COUNT_BASE + 4 * (cf + i)));
    for (uint32_t i = 0; i < ns; i++, d += 4)
        put32(d, core_rd(SKYSPIKE_STATE_BASE + 4 * (sf + i)));
    *len = 4 * (nc + ns);
    return flags_check(len);
}

static uint8_t cmd_status(const uint8_t *p, uint32_t n, uint32_t *len)
{
    if (n > 1)
        return bad_arg();
    put32(TX_DATA, core_status());
    put32(TX_DATA + 4, core_rd(SKYSPIKE_REG_CYCLES));
    TX_DATA[8] = PROTO_NUM_COUNTERS;
    for (int i = 0; i < PROTO_NUM_COUNTERS; i++)
        put32(TX_DATA + 9 + 4 * i, fw_counters[i]);
    if (n == 1 && (p[0] & PROTO_STATUS_FLAG_CLEAR))
        for (int i = 0; i < PROTO_NUM_COUNTERS; i++)
            fw_counters[i] = 0;
    *len = 9 + 4 * PROTO_NUM_COUNTERS;
    return PROTO_ST_OK;
}

/* ---- STREAM: images in as raw bytes, answers out as raw bytes (docs/protocol.md) -------- */
/* The input buffer holds two pages: the firmware writes image k+1 into one while the core runs
 * image k from the other (NET.input_base says which), so the run hides behind the link. */

_Static_assert(STASH_SIZE >= PROTO_STREAM_MAX_ANSWER, "an answer's worth of bytes must fit the stash");

static uint32_t answer_bytes(uint32_t flags, uint32_t n_out)
{
    return 1 + (flags & PROTO_STREAM_FLAG_COUNTS ? n_out : 0) + (flags & PROTO_STREAM_FLAG_MEMBRANES ? 2 * n_out : 0) +
           (flags & PROTO_STREAM_FLAG_CYCLES ? 4 : 0);
}

static int32_t membrane(const struct stream *s, uint32_t i)
{
    return (int16_t)core_rd(SKYSPIKE_STATE_BASE + 4 * (s->out_state + i));   /* V[15:0], signed */
}

/* Queue an image's answer: its class (and counts, membranes, cycles on request), or the
 * failure marker and zeros for a run that failed with core STATUS `st`. The class is the
 * readout rule (skyspike.chip.readout.predict): most spikes, then the higher final membrane,
 * then the lower index. One pass over the counts: the UART is not read meanwhile, and at
 * 12.5 Mbaud its FIFO fills in ~10k cycles. */
static void send_answer(struct stream *s, int ok, uint32_t st)
{
    txq_wait();                              /* the previous answer is out */
    uint32_t n = answer_bytes(s->flags, s->n_out);
    if (!ok) {
        for (uint32_t i = 1; i < n; i++)
            tx[i] = 0;
        if (!s->failed++)
            s->first_status = st;
        tx[0] = PROTO_STREAM_FAILED;
    } else {
        uint32_t cycles = core_rd(SKYSPIKE_REG_CYCLES), best = 0, top = 0;
        const uint32_t counts = s->flags & PROTO_STREAM_FLAG_COUNTS;
        s->cycles += cycles;
        uint8_t *d = tx + 1;
        for (uint32_t i = 0; i < s->n_out; i++) {
            uint32_t c = core_rd(SKYSPIKE_COUNT_BASE + 4 * i);
            if (i == 0 || c > top || (c == top && membrane(s, i) > membrane(s, best))) {
                best = i;
                top = c;
            }
            if (counts)
                *d++ = (uint8_t)(c > 255 ? 255 : c);
        }
        tx[0] = (uint8_t)best;
        for (uint32_t i = 0; (s->flags & PROTO_STREAM_FLAG_MEMBRANES) && i < s->n_out; i++, d += 2)
            put16(d, (uint32_t)membrane(s, i));
        if (s->flags & PROTO_STREAM_FLAG_CYCLES)
            put32(d, cycles);
    }
    s->answered++;
    txq_pos = 0;
    txq_len = n;
    pump();
}

/* Wait for the pending run (bounded: a hung run is aborted), then answer it. */
static void answer(struct stream *s)
{
    uint32_t st;
    int done;
    while (!(done = run_finished(st = core_status()))) {
        if (hal_cycles() - s->t_run > s->timeout) {
            CNT(RUN_TIMEOUT)++;
            core_wr(SKYSPIKE_REG_CTRL, SKYSPIKE_CTRL_ABORT);
            break;
        }
    }
    s->pending = 0;
    send_answer(s, done && !((st >> SKYSPIKE_STATUS_ERROR_SHIFT) & SKYSPIKE_STATUS_ERROR_MASK), st);
}

/* The next stream byte when none is waiting in the UART (or the stash holds some): meanwhile
 * finished runs are answered and the answers sent. -1 when the host went quiet for longer than
 * the inter-byte timeout with no run pending and nothing left to send. */
static int stream_wait(struct stream *s)
{
    uint32_t t0 = hal_cycles();
    for (;;) {
        int c = next_byte();
        if (c >= 0)
            return c;
        pump();
        if (s->pending && txq_pos == txq_len && (run_finished(core_status()) || hal_cycles() - s->t_run > s->timeout))
            answer(s);                       /* done, or timed out: aborted; once the last answer is out, so
                                              * that send_answer does not wait for it while bytes arrive */
        if (s->pending || txq_pos != txq_len)
            t0 = hal_cycles();
        else if (hal_cycles() - t0 > hal_interbyte_timeout()) {
            hal_rx_timeout();
            return -1;
        }
    }
}

/* `n` (1..4) stream bytes into *w, little endian, a byte at a time: the stash's first, without
 * refilling it from the UART (else it would never empty while the host keeps sending, and every
 * byte would take this slow path: the FIFO holds them meanwhile); then one UART read a byte when
 * they wait, else stream_wait. 0 if the host stopped sending. */
static int rx_bytes(struct stream *s, uint32_t *w, uint32_t n)
{
    uint32_t word = 0;
    for (uint32_t k = 0; k < 8 * n; k += 8) {
        int c;
        if (stash_len)
            c = stash_pop();
        else if ((c = hal_uart_rx()) < 0 && (c = stream_wait(s)) < 0)
            return 0;
        word |= (uint32_t)c << k;
    }
    *w = word;
    return 1;
}


static inline __attribute__((always_inline)) void next_frame(struct cursor *c)
{
    c->frames--;
    c->frame += c->stride_bytes;
    c->addr = c->row = c->frame;
    c->left = c->banks;
    c->fleft = c->full;
}

/* Past a whole word; straight on to the next frame when the frame has no partial word. */
static inline __attribute__((always_inline)) void advance(struct cursor *c)
{
    c->addr += c->bank_bytes;
    if (--c->left == 0) {
        c->row += 4;
        c->addr = c->row;
        c->left = c->banks;
    }
    if (--c->fleft == 0 && !c->tail && c->frames > 1)
        next_frame(c);
}

/* Whole words while the UART's FIFO holds four bytes, one RXWORD read each, into the input
 * buffer at the cursor, until a frame's partial word or the image's end. The same STATUS read
 * lets the answer queue send a byte whenever the transmitter is free. Not inlined, so that its
 * loop lives in registers: ~16 instructions a word, against the ~320 cycles a word that
 * 12.5 Mbaud leaves. */
static __attribute__((noinline)) void rx_words(struct cursor *cp)
{
    struct cursor c = *cp;
    uint32_t pos = txq_pos;
    const uint32_t len = txq_len;
    for (;;) {
        uint32_t st = hal_uart_status();
        if (pos != len && (st & SOC_UART_ST_TX_READY)) {
            hal_uart_tx(tx[pos++]);
            if (pos == len)
                hal_uart_flush();
        }
        if (!c.fleft || !(st & SOC_UART_ST_RX_WORD))
            break;
        core_wr(c.addr, hal_uart_rx_word());
        advance(&c);
    }
    *cp = c;
    txq_pos = pos;
}

/* One image's bytes into the page at input-buffer word `base`, frame by frame, bytes little
 * endian into words; 0 if the host stopped sending. Whole words come four bytes a UART read
 * while they wait (rx_words); otherwise, and a frame's partial last word, a byte at a time
 * (waiting for the link and answering finished runs meanwhile: stream_wait). */
static int receive_image(struct stream *s, uint32_t base)
{
    struct cursor *const c = &txbuf.stream.c;
    c->bank_bytes = s->bank_bytes;
    c->banks = c->left = s->banks;
    c->stride_bytes = 4 * s->stride;
    c->full = c->fleft = s->frame_bytes / 4;
    c->tail = s->frame_bytes % 4;
    c->frames = s->frames;
    c->frame = c->row = c->addr = SKYSPIKE_INPUT_BASE + 4 * base;
    if (!s->page && s->pending)
        answer(s);                   /* one page: the run must end before its input changes */
    for (;;) {
        uint32_t word;
        if (c->fleft) {
            if (!stash_len)
                rx_words(c);
            if (c->fleft) {           /* fewer than four bytes wait (or the stash has some) */
                if (!rx_bytes(s, &word, 4))
                    return 0;
                core_wr(c->addr, word);
                advance(c);
                if (txq_pos != txq_len)
                    pump();
                continue;
            }
        }
        if (c->tail) {                /* the frame's partial last word */
            if (!rx_bytes(s, &word, c->tail))
                return 0;
            core_wr(c->addr, word);
        }
        if (c->frames == 1)
            return 1;
        next_frame(c);
    }
}

/* Drop whatever the host still sends until it goes quiet (after an overrun the stream's
 * framing is lost). */
static void drain(void)
{
    uint32_t t0 = hal_cycles();
    while (hal_cycles() - t0 <= hal_interbyte_timeout())
        if (next_byte() >= 0)
            t0 = hal_cycles();
    (void)hal_uart_errors();
}

static __attribute__((noinline)) uint8_t cmd_stream(uint8_t cmd, uint8_t seq, const uint8_t *p, uint32_t n, uint32_t *len)
{
    if (n != 16)
        return bad_arg();
    struct stream *const s = &txbuf.stream.s;   /* fields set one by one: no memset call in the LTO build */
    s->pending = s->answered = s->failed = s->first_status = s->cycles = s->t_run = 0;
    uint32_t images = get16(p);
    s->flags = p[2];
    s->frames = p[3];
    s->frame_bytes = get16(p + 4);
    s->stride = get16(p + 6);
    s->n_out = get16(p + 8);
    s->out_state = get16(p + 10);
    s->timeout = get32(p + 12);
    if (s->timeout == 0)
        s->timeout = PROTO_DEFAULT_RUN_TIMEOUT;
    uint32_t caps2 = core_rd(SKYSPIKE_REG_CAPS2), caps3 = core_rd(SKYSPIKE_REG_CAPS3);
    s->banks = (caps3 >> 16) & 0xFF;
    uint32_t depth = ((caps3 >> 24) & 0xFF) * 256, page = s->frames * s->stride;
    s->bank_bytes = 4 * depth;
    if (images == 0 || s->frames == 0 || s->frame_bytes == 0 || s->n_out == 0 || s->n_out > 255 || s->banks == 0 ||
        (s->flags & ~(uint32_t)(PROTO_STREAM_FLAG_COUNTS | PROTO_STREAM_FLAG_MEMBRANES | PROTO_STREAM_FLAG_CYCLES)) ||
        s->frame_bytes > 4 * s->banks * s->stride || page > depth ||
        s->n_out > (caps2 >> 16) || s->out_state + s->n_out > (caps2 & 0xFFFF) ||
        answer_bytes(s->flags, s->n_out) > PROTO_STREAM_MAX_ANSWER)
        return bad_arg();
    if (core_busy())
        return PROTO_ST_BUSY;
    s->net = core_rd(SKYSPIKE_REG_NET) & 0xFFFF;
    s->page = 2 * page <= depth ? page : 0;
    reply(cmd, seq, PROTO_ST_OK, 0);                 /* go ahead: send the images */
    (void)hal_uart_errors();
    uint32_t t0 = hal_cycles(), k = 0;
    uint8_t st = PROTO_ST_OK;
    for (; k < images; k++) {
        uint32_t base = (k & 1) ? s->page : 0;
        if (!receive_image(s, base)) {
            st = PROTO_ST_TRUNCATED;
            CNT(TRUNCATED)++;
            break;
        }
        if (hal_uart_errors()) {
            st = PROTO_ST_OVERRUN;
            break;
        }
        uint32_t refused = core_status() & CORE_FLAGS;   /* the core did not take the image */
        if (s->pending)
            answer(s);
        if (refused) {
            flags_clear();
            send_answer(s, 0, refused);
            continue;
        }
        core_wr(SKYSPIKE_REG_NET, s->net | base << 16);
        core_wr(SKYSPIKE_REG_CTRL, SKYSPIKE_CTRL_START | SKYSPIKE_CTRL_CLEAR_FLAGS);
        s->pending = 1;
        s->t_run = hal_cycles();
    }
    if (s->pending)
        answer(s);
    txq_wait();
    if (st == PROTO_ST_OVERRUN)
        drain();
    put16(TX_DATA, s->answered);
    put16(TX_DATA + 2, s->failed);
    put32(TX_DATA + 4, s->first_status);
    put32(TX_DATA + 8, s->cycles);
    put32(TX_DATA + 12, hal_cycles() - t0);
    *len = 16;
    return st;
}

static uint32_t next_divisor;        /* SET_DIVISOR: applied once its reply is out */

static uint8_t cmd_set_divisor(const uint8_t *p, uint32_t n)
{
    if (n != 4)
        return bad_arg();
    uint32_t d = get32(p);
    if (d < SOC_UART_MIN_DIVISOR || d > SOC_UART_MAX_DIVISOR)
        return bad_arg();
    next_divisor = d;
    return PROTO_ST_OK;
}

static void execute(uint8_t ver, uint8_t cmd, uint8_t seq, const uint8_t *p, uint32_t n)
{
    uint32_t len = 0;
    uint8_t st;
    if (ver != PROTO_VERSION) {
        CNT(BAD_VERSION)++;
        TX_DATA[0] = PROTO_VERSION;
        reply(cmd, seq, PROTO_ST_BAD_VERSION, 1);
        return;
    }
    switch (cmd) {
    case PROTO_CMD_IDENTIFY:     st = cmd_identify(p, n, &len); break;
    case PROTO_CMD_READ_MEM:     st = cmd_read_mem(p, n, &len); break;
    case PROTO_CMD_WRITE_MEM:    st = write_words(p, n, 0, SKYSPIKE_CORE_SPAN, &len); break;
    case PROTO_CMD_LOAD_INPUTS:  st = write_words(p, n, SKYSPIKE_INPUT_BASE, input_bytes(), &len); break;
    case PROTO_CMD_RUN:          st = cmd_run(p, n, &len); break;
    case PROTO_CMD_READ_RESULTS: st = cmd_read_results(p, n, &len); break;
    case PROTO_CMD_STATUS:       st = cmd_status(p, n, &len); break;
    case PROTO_CMD_STREAM:       st = cmd_stream(cmd, seq, p, n, &len); break;
    case PROTO_CMD_SET_DIVISOR:  st = cmd_set_divisor(p, n); break;
    default:
        CNT(UNKNOWN_COMMAND)++;
        st = PROTO_ST_UNKNOWN_COMMAND;
    }
    if (st != PROTO_ST_OK && st != PROTO_ST_TIMEOUT && st != PROTO_ST_BUS_ERROR &&
        !(cmd == PROTO_CMD_STREAM && len))
        len = 0;
    reply(cmd, seq, st, len);
    if (next_divisor) {
        hal_uart_set_divisor(next_divisor);
        next_divisor = 0;
    }
}

/* ---- receive --------------------------------------------------------------------------- */
static void drop(uint32_t n)
{
    rx_len -= n;
    memmove(rx, rx + n, rx_len);
}

/* One parsing decision over rx[]; the same rules as skyspike.link.frames.FrameParser._scan.
 * Returns 1 after consuming bytes, 0 when it needs more (never with `stale` and bytes left). */
static int scan(int stale)
{
    uint32_t n = rx_len, skip = 0;
    want = 1;
    if (n == 0)
        return 0;
    while (skip < n && !(rx[skip] == PROTO_SYNC0 && (skip + 1 == n || rx[skip + 1] == PROTO_SYNC1)))
        skip++;
    if (skip) {
        CNT(GARBAGE_BYTES) += skip;
        if (!discarding)
            CNT(RESYNCS)++;
        discarding = 1;
        drop(skip);
        return 1;
    }
    if (n >= 2)
        discarding = 0;              /* a confirmed SYNC ends a run of garbage */
    if (n < PROTO_HEADER_SIZE) {
        want = PROTO_HEADER_SIZE - n;
        if (!stale)
            return 0;
        CNT(TRUNCATED)++;            /* header never completed: dropped silently */
        CNT(GARBAGE_BYTES)++;
        drop(1);
        return 1;
    }
    uint8_t cmd = rx[3], seq = rx[4];
    uint32_t len = get16(rx + 5);
    if (len > PROTO_MAX_PAYLOAD) {
        CNT(BAD_LENGTH)++;
        CNT(GARBAGE_BYTES)++;
        reply(cmd, seq, PROTO_ST_BAD_LENGTH, 0);
        drop(1);                     /* rescan from the next byte */
        return 1;
    }
    uint32_t end = PROTO_HEADER_SIZE + len + PROTO_CRC_SIZE;
    if (n < end) {
        want = end - n;
        if (!stale)
            return 0;
        CNT(TRUNCATED)++;
        CNT(GARBAGE_BYTES)++;
        reply(cmd, seq, PROTO_ST_TRUNCATED, 0);
        drop(1);
        return 1;
    }
    if (crc16_update(PROTO_CRC_INIT, rx + 2, end - 4) != get16(rx + end - 2)) {
        CNT(BAD_CRC)++;
        CNT(GARBAGE_BYTES)++;
        reply(cmd, seq, PROTO_ST_BAD_CRC, 0);
        drop(1);
        return 1;
    }
    CNT(RX_FRAMES)++;
    execute(rx[2], cmd, seq, rx + PROTO_HEADER_SIZE, len);
    drop(end);
    return 1;
}

void proto_loop(void)
{
    int stale = 0;
    for (;;) {
        while (scan(stale))
            ;
        stale = 0;
        /* Receive the `want` bytes scan() needs (its decisions only depend on complete
         * prefixes, so taking them in one go changes nothing but the speed: a few bus reads
         * per byte). Idle (nothing buffered): wait as long as it takes. Inside a frame: a
         * silence longer than the inter-byte timeout ends the wait. */
        while (want) {
            if (!stash_len) {                    /* fast path: what the FIFO holds */
                uint32_t got = rx_burst(rx + rx_len, want);
                rx_len += got;
                if (!(want -= got))
                    break;
            }
            int c = next_byte();
            if (c < 0) {
                hal_uart_errors();
                uint32_t t0 = hal_cycles();
                while ((c = next_byte()) < 0) {
                    if (rx_len && hal_cycles() - t0 > hal_interbyte_timeout()) {
                        stale = 1;       /* the rest is not coming: resolve what is buffered */
                        hal_rx_timeout();
                        break;
                    }
                }
                if (c < 0)
                    break;
            }
            rx[rx_len++] = (uint8_t)c;   /* want <= PROTO_MAX_FRAME - rx_len */
            want--;
        }
    }
}
