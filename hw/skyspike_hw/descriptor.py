"""Layer descriptor decode: raw descriptor words -> the layer's fields, its derived
placement (mirrors ``skyspike.chip.network._derive``) and a run-time error code."""
from amaranth import Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from skyspike.spec.config import MAX_BIAS_ROWS, CoreConfig, log2
from skyspike.spec.memmap import ERROR_CODE

#: Descriptor words the hardware stores (word 7 is reserved).
STORED_WORDS = 7


class DescriptorDecode(wiring.Component):
    """Combinational decode and check of one layer descriptor.

    Parameters
    ----------
    cfg : CoreConfig
        The core's maximum sizes.

    Attributes
    ----------
    words : In(32 * 7)
        Descriptor words 0..6 of the layer (word j at bits 32j..32j+31).
    first, last : In(1)
        This is layer 0 / the last layer of the network.
    prev_n_out : In(16)
        The previous layer's n_out (checked against n_in unless ``first``).
    steps : In(8)
        Time steps of the run (checked against the input buffer for layer 0).
    n_in, n_out, bits_code, slots_log2, reset_zero, n_bias, w_base, state_base, beta,
    theta_high, theta_low, reset_sub : Out
        The raw fields (see docs/semantics.md, "Descriptor").
    group_log2, lanes_log2, sub_log2, chunk_log2 : Out
        log2 of banks per group, lanes per bank, chunks per word, neurons per chunk.
    chunks, in_words, rows, in_words_per_bank : Out
        Derived placement: ``in_words`` counts the bias inputs (the scanners read them),
        ``in_words_per_bank`` does not (the input buffer holds the real inputs only).
    tail_word, tail_mask, tail_bias, next_bias : Out
        How the scanners build the input words past the real inputs (docs/semantics.md,
        "Bias rows"): words below ``tail_word`` (n_in // 32) are used as read; word
        ``tail_word`` as (data & tail_mask) | tail_bias; word tail_word + 1 (the last one
        there can be) is ``next_bias``, data ignored.
    error : Out(8)
        0, or the first failing check's code (skyspike.spec.memmap.ERRORS).
    """

    def __init__(self, cfg: CoreConfig):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        self.cfg = cfg
        super().__init__({
            "words": In(32 * STORED_WORDS),
            "first": In(1), "last": In(1), "prev_n_out": In(16), "steps": In(8),
            "n_in": Out(16), "n_out": Out(16), "bits_code": Out(2), "slots_log2": Out(2),
            "reset_zero": Out(1), "n_bias": Out(8), "w_base": Out(16), "state_base": Out(16), "beta": Out(9),
            "theta_high": Out(signed(16)), "theta_low": Out(signed(16)), "reset_sub": Out(signed(16)),
            "group_log2": Out(range(log2(cfg.banks) + 1)), "lanes_log2": Out(2), "sub_log2": Out(2),
            "chunk_log2": Out(4), "chunks": Out(16), "in_words": Out(12), "rows": Out(16),
            "in_words_per_bank": Out(12), "tail_word": Out(11), "tail_mask": Out(32),
            "tail_bias": Out(32), "next_bias": Out(32), "error": Out(8),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        w = [self.words[32 * j: 32 * (j + 1)] for j in range(STORED_WORDS)]
        m.d.comb += [
            self.n_in.eq(w[0][0:16]), self.n_out.eq(w[0][16:32]),
            self.bits_code.eq(w[1][0:2]), self.slots_log2.eq(w[1][2:4]), self.reset_zero.eq(w[1][4]),
            self.n_bias.eq(w[1][8:16]),
            self.w_base.eq(w[2][0:16]), self.state_base.eq(w[3][0:16]), self.beta.eq(w[4][0:9]),
            self.theta_high.eq(w[5][0:16]), self.theta_low.eq(w[5][16:32]), self.reset_sub.eq(w[6][0:16]),
        ]
        beta_wide = w[4][0:16]
        # Precision code 0..3 = 1, 2, 4, 8 bits: 8 lanes per bank (4 at 8-bit); chunks per word 4, 2, 1, 1.
        m.d.comb += [
            self.lanes_log2.eq(Mux(self.bits_code == 3, 2, 3)),
            self.sub_log2.eq(Mux(self.bits_code >= 2, 0, 2 - self.bits_code)),
            self.group_log2.eq(log2(cfg.banks) - self.slots_log2),
            self.chunk_log2.eq(self.group_log2 + self.lanes_log2),
        ]
        chunk_mask = Signal(16)
        m.d.comb += chunk_mask.eq((Const(1, 17) << self.chunk_log2) - 1)
        real_words = Signal(12)   # words of real inputs (what the host writes per step)
        m.d.comb += [
            self.chunks.eq((self.n_out + chunk_mask) >> self.chunk_log2),
            real_words.eq((self.n_in + 31) >> 5),
            self.in_words.eq((self.n_in + self.n_bias + 31) >> 5),
            self.rows.eq(((self.in_words + (Const(1, 5) << self.slots_log2) - 1) >> self.slots_log2) << 5),
            self.in_words_per_bank.eq((real_words + cfg.input_banks - 1) >> log2(cfg.input_banks)),
        ]

        def below(n):  # the bits below n (0..31) of a word: a thermometer decoder
            return ((Const(1, 33) << n) - 1)[:32]

        # Bias inputs n_in .. n_in + n_bias - 1 end below bit `end` of the word pair
        # (tail_word, tail_word + 1); end < 64 as n_bias <= 32. Once per layer, not per scanner.
        end = Signal(7)
        end_mask = Signal(32)
        m.d.comb += [
            end.eq(self.n_in[0:5] + self.n_bias[0:6]),
            end_mask.eq(below(end[0:5])),
            self.tail_word.eq(self.n_in[5:16]),
            self.tail_mask.eq(below(self.n_in[0:5])),
            self.tail_bias.eq(Mux(end[5], 0xFFFF_FFFF, end_mask) & ~self.tail_mask),
            self.next_bias.eq(Mux(end[5], end_mask, 0)),
        ]
        words_per_row = Signal(16)
        sub_mask = Signal(4)
        m.d.comb += [
            sub_mask.eq((Const(1, 5) << self.sub_log2) - 1),
            words_per_row.eq((self.chunks + sub_mask) >> self.sub_log2),
        ]
        bank_words = Signal(32)
        input_words = Signal(24)
        m.d.comb += [
            bank_words.eq(words_per_row * self.rows),
            input_words.eq(self.steps * self.in_words_per_bank),
        ]
        max_in = Mux(self.first, cfg.max_inputs, cfg.max_neurons)
        lane_mask = cfg.update_lanes - 1
        checks = [  # (failing condition, code), first match wins
            ((self.first & ((self.steps == 0) | (input_words > cfg.input_depth))), "BAD_STEPS"),
            ((self.n_in == 0) | (self.n_out == 0) | (self.n_in > max_in) | (self.n_out > cfg.max_neurons),
             "BAD_SIZE"),
            (~self.first & (self.n_in != self.prev_n_out), "BAD_CHAIN"),
            (self.theta_low > self.theta_high, "BAD_THRESHOLD"),
            (beta_wide > 256, "BAD_BETA"),
            (self.slots_log2 > log2(cfg.max_slots), "BAD_SLOTS"),
            (self.w_base + bank_words > cfg.bank_depth, "WEIGHT_OVERFLOW"),
            (((self.state_base & lane_mask) != 0) | (self.state_base + self.n_out > cfg.state_neurons),
             "STATE_OVERFLOW"),
            (self.last & (self.n_out > cfg.max_outputs), "BAD_OUTPUTS"),
            (self.n_bias > MAX_BIAS_ROWS, "BAD_BIAS"),
        ]
        with m.If(checks[0][0]):
            m.d.comb += self.error.eq(ERROR_CODE[checks[0][1]])
        for cond, name in checks[1:]:
            with m.Elif(cond):
                m.d.comb += self.error.eq(ERROR_CODE[name])
        return m
