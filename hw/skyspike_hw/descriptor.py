"""Layer descriptor decode: the stored descriptor words -> the layer's derived placement
(mirrors ``skyspike.chip.network.place``) and a run-time error code."""
from amaranth import Const, Module, Mux, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from skyspike.spec.config import MAX_BIAS_ROWS, CoreConfig, log2
from skyspike.spec.layouts import STORED_WORDS
from skyspike.spec.memmap import ERROR_CODE

from .layouts import DESCRIPTOR

__all__ = ["DescriptorDecode", "derived_layout", "STORED_WORDS"]

#: Width of an input-bitmap word index (enough for max_inputs / 32 words and the bias words).
WORD_BITS = 12


def derived_layout(cfg: CoreConfig) -> data.StructLayout:
    """The fields :class:`DescriptorDecode` derives from one descriptor on ``cfg``.

    group_log2, lanes_log2, sub_log2, chunk_log2
        log2 of banks per group, lanes per bank, chunks per word, neurons per chunk (a chunk
        spans the banks of one fold: chunk_log2 = group_log2 - fold_log2 + lanes_log2).
    chunks, in_words, rows, in_words_per_bank
        Derived placement: ``in_words`` counts the bias inputs (the scanners read them),
        ``in_words_per_bank`` does not (the input buffer holds the real inputs only); ``rows``
        are the rows of one fold, rows per slot >> fold_log2 (the words a chunk uses in every
        bank, the step of the chunk base).
    tail_word, tail_mask, tail_bias, next_bias
        How the scanners build the input words past the real inputs (docs/semantics.md,
        "Bias rows"): words below ``tail_word`` (n_in // 32) are used as read; word
        ``tail_word`` as (data & tail_mask) | tail_bias; word tail_word + 1 (the last one
        there can be) is ``next_bias``, data ignored.
    """
    if not isinstance(cfg, CoreConfig):
        raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
    return data.StructLayout({
        "group_log2": range(log2(cfg.banks) + 1), "lanes_log2": 2, "sub_log2": 2, "chunk_log2": 4,
        "chunks": 16, "in_words": WORD_BITS, "rows": 16, "in_words_per_bank": WORD_BITS,
        "tail_word": WORD_BITS - 1, "tail_mask": 32, "tail_bias": 32, "next_bias": 32,
    })


class DescriptorDecode(wiring.Component):
    """Combinational decode and check of one layer descriptor.

    Parameters
    ----------
    cfg : CoreConfig
        The core's maximum sizes.
    registered_checks : bool
        Register the checks' operands (``error`` one cycle after its inputs): the engine's checker.

    Attributes
    ----------
    desc : In(layouts.DESCRIPTOR)
        Descriptor words 0..6 of the layer, viewed through the spec's descriptor layout
        (n_in, n_out, bits_code, slots_log2, fold_log2, reset_zero, n_bias, in_mode, in_bits_code,
        w_base, state_base, beta, theta_high, theta_low, reset_sub; docs/semantics.md, "Descriptor").
    first, last : In(1)
        This is layer 0 / the last layer of the network.
    prev_n_out : In(16)
        The previous layer's n_out (checked against n_in unless ``first``).
    steps : In(8)
        Time steps of the run (checked against the input buffer for layer 0, unless its input
        is graded: then its bit planes are).
    input_base : In(16)
        Where the run's input frames start in the input buffer (NET.input_base).
    derived : Out(derived_layout(cfg))
        The layer's placement and bias-word masks (see :func:`derived_layout`).
    error : Out(8)
        0, or the first failing check's code (skyspike.spec.memmap.ERRORS): of this cycle's
        inputs, or with ``registered_checks`` of the previous cycle's (a register stage
        between the decode and the checks' multipliers; ``derived`` stays combinational).
    """

    def __init__(self, cfg: CoreConfig, *, registered_checks: bool = False):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        self.cfg = cfg
        self.registered_checks = bool(registered_checks)
        super().__init__({
            "desc": In(DESCRIPTOR), "first": In(1), "last": In(1), "prev_n_out": In(16), "steps": In(8),
            "input_base": In(16), "derived": Out(derived_layout(cfg)), "error": Out(8),
        })

    def elaborate(self, platform):
        m = Module()
        d, o = self.desc, self.derived
        self._placement(m, d, o)
        self._bias_masks(m, d, o)
        self._checks(m, d, o)
        return m

    def _placement(self, m, d, o):
        cfg = self.cfg
        # Precision code 0..3 = 1, 2, 4, 8 bits: 8 lanes per bank (4 at 8-bit); chunks per word 4, 2, 1, 1.
        m.d.comb += [
            o.lanes_log2.eq(Mux(d.bits_code == 3, 2, 3)),
            o.sub_log2.eq(Mux(d.bits_code >= 2, 0, 2 - d.bits_code)),
            o.group_log2.eq(log2(cfg.banks) - d.slots_log2),
            o.chunk_log2.eq(o.group_log2 - d.fold_log2 + o.lanes_log2),
        ]
        chunk_mask = Signal(16)
        m.d.comb += chunk_mask.eq((Const(1, 17) << o.chunk_log2) - 1)
        real_words = Signal(WORD_BITS)   # words of real inputs (what the host writes per step)
        slot_rows = Signal(16)           # rows of one slot; a fold holds slot_rows >> fold_log2
        m.d.comb += [
            o.chunks.eq((d.n_out + chunk_mask) >> o.chunk_log2),
            real_words.eq((d.n_in + 31) >> 5),
            o.in_words.eq((d.n_in + d.n_bias + 31) >> 5),
            slot_rows.eq(((o.in_words + (Const(1, 5) << d.slots_log2) - 1) >> d.slots_log2) << 5),
            o.rows.eq(slot_rows >> d.fold_log2),
            o.in_words_per_bank.eq((real_words + cfg.input_banks - 1) >> log2(cfg.input_banks)),
        ]

    @staticmethod
    def _bias_masks(m, d, o):
        def below(n):  # the bits below n (0..31) of a word: a thermometer decoder
            return ((Const(1, 33) << n) - 1)[:32]

        # Bias inputs n_in .. n_in + n_bias - 1 end below bit `end` of the word pair
        # (tail_word, tail_word + 1); end < 64 as n_bias <= 32. Once per layer, not per scanner.
        end = Signal(7)
        end_mask = Signal(32)
        m.d.comb += [
            end.eq(d.n_in[0:5] + d.n_bias[0:6]),
            end_mask.eq(below(end[0:5])),
            o.tail_word.eq(d.n_in[5:16]),
            o.tail_mask.eq(below(d.n_in[0:5])),
            o.tail_bias.eq(Mux(end[5], 0xFFFF_FFFF, end_mask) & ~o.tail_mask),
            o.next_bias.eq(Mux(end[5], end_mask, 0)),
        ]

    def _checks(self, m, d, o):
        cfg = self.cfg
        sub_mask = Signal(4)
        m.d.comb += sub_mask.eq((Const(1, 5) << o.sub_log2) - 1)
        max_in = Mux(self.first, cfg.max_inputs, cfg.max_neurons)
        lane_mask = cfg.update_lanes - 1
        # The two checks with a product keep their operands; the others are plain conditions.
        # The input buffer holds a bitmap per step, or per bit plane of graded input.
        frames = Mux((d.in_mode == 1) | (d.in_mode == 2), Const(1, 9) << d.in_bits_code, self.steps)
        operands = {"first": self.first, "steps": self.steps, "frames": frames, "in_words_per_bank": o.in_words_per_bank,
                    "input_base": self.input_base,
                    "w_base": d.w_base, "words_per_row": (o.chunks + sub_mask) >> o.sub_log2, "rows": o.rows}
        plain = {
            "BAD_SIZE": (d.n_in == 0) | (d.n_out == 0) | (d.n_in > max_in) | (d.n_out > cfg.max_neurons),
            "BAD_CHAIN": ~self.first & (d.n_in != self.prev_n_out),
            "BAD_THRESHOLD": d.theta_low > d.theta_high,
            "BAD_BETA": d.beta > 256,   # all 16 bits of the field (the datapath uses 9)
            "BAD_SLOTS": (d.slots_log2 > log2(cfg.max_slots)) | (d.slots_log2 + d.fold_log2 > log2(cfg.banks)),
            "STATE_OVERFLOW": ((d.state_base & lane_mask) != 0) | (d.state_base + d.n_out > cfg.state_neurons),
            "BAD_OUTPUTS": self.last & (d.n_out > cfg.max_outputs),
            "BAD_BIAS": d.n_bias > MAX_BIAS_ROWS,
            "BAD_INPUT": (d.in_mode == 3) | (~self.first & (d.in_mode != 0)),
        }
        if self.registered_checks:   # one register stage between the decode and the products
            operands = {k: self._register(m, f"check_{k}", v) for k, v in operands.items()}
            plain = {k: self._register(m, f"check_{k.lower()}", v) for k, v in plain.items()}
        op = operands
        input_words, bank_words = Signal(24), Signal(32)
        m.d.comb += [input_words.eq(op["frames"] * op["in_words_per_bank"]),
                     bank_words.eq(op["words_per_row"] * op["rows"])]
        checks = [  # (failing condition, code), first match wins
            (op["first"] & ((op["steps"] == 0) | (op["input_base"] + input_words > cfg.input_depth)), "BAD_STEPS"),
            *((plain[name], name) for name in ("BAD_SIZE", "BAD_CHAIN", "BAD_THRESHOLD", "BAD_BETA", "BAD_SLOTS")),
            (op["w_base"] + bank_words > cfg.bank_depth, "WEIGHT_OVERFLOW"),
            *((plain[name], name) for name in ("STATE_OVERFLOW", "BAD_OUTPUTS", "BAD_BIAS", "BAD_INPUT")),
        ]
        with m.If(checks[0][0]):
            m.d.comb += self.error.eq(ERROR_CODE[checks[0][1]])
        for cond, name in checks[1:]:
            with m.Elif(cond):
                m.d.comb += self.error.eq(ERROR_CODE[name])

    @staticmethod
    def _register(m, name, value):
        reg = Signal(Value.cast(value).shape(), name=name)
        m.d.sync += reg.eq(value)
        return reg
