"""The layouts of the core's tables and entries (docs/semantics.md, "Descriptor"):

* :data:`DESCRIPTOR` -- one layer's descriptor, 8 words (word 7 reserved, not stored);
* :data:`STATE_ENTRY` -- one neuron's state as the bus reads it.

Register fields live with the registers (:mod:`.memmap`)."""
from __future__ import annotations

from .bitfields import Field, Layout, word_fields

#: Words of the descriptor table per layer, and the words the hardware stores (7 is reserved).
DESC_WORDS = 8
STORED_WORDS = 7

DESCRIPTOR = Layout("descriptor", 32 * DESC_WORDS, [
    *word_fields(0, Field("n_in", 0, 16, doc="inputs of the layer (real inputs, without bias rows)"),
                 Field("n_out", 16, 16, doc="neurons of the layer")),
    *word_fields(1, Field("bits_code", 0, 2, doc="weight precision: 0..3 = 1, 2, 4, 8 bits"),
                 Field("slots_log2", 2, 2, doc="log2 of the input events consumed per cycle"),
                 Field("reset_zero", 4, 1, doc="1: reset to 0 on a spike; 0: subtract reset_sub"),
                 Field("fold_log2", 5, 3, doc="log2 of the row folds: the slot group's banks hold F rows side by side"),
                 Field("n_bias", 8, 8, doc="bias rows: always-on inputs n_in .. n_in + n_bias - 1"),
                 Field("in_mode", 16, 2, doc="layer 0's input: 0 spike bitmaps, 1 direct values, 2 rate-coded values; "
                                             "0 on other layers"),
                 Field("in_bits_code", 18, 2, doc="graded input: bits per value, 0..3 = 1, 2, 4, 8")),
    *word_fields(2, Field("w_base", 0, 16, doc="first weight word of the layer in every bank")),
    *word_fields(3, Field("state_base", 0, 16, doc="first neuron-state entry (multiple of update_lanes)")),
    *word_fields(4, Field("beta", 0, 16, doc="leak numerator over 256 (0..256)")),
    *word_fields(5, Field("theta_high", 0, 16, signed=True, doc="fire when V >= theta_high (armed)"),
                 Field("theta_low", 16, 16, signed=True, doc="re-arm when V < theta_low")),
    *word_fields(6, Field("reset_sub", 0, 16, signed=True, doc="subtracted from V on a spike")),
])

STATE_ENTRY = Layout("state entry", 32, [
    Field("v", 0, 16, signed=True, doc="membrane potential"),
    Field("armed", 16, 1, doc="the Schmitt trigger is armed (V fell below theta_low since the last spike)"),
    Field("fired", 17, 1, doc="the neuron spiked in the last step"),
])
#: Bits of a state entry that the hardware keeps (the rest reads 0).
STATE_BITS = 18


def descriptor_words(**fields: int) -> list[int]:
    """The :data:`DESC_WORDS` words of one layer's descriptor."""
    return DESCRIPTOR.words(DESCRIPTOR.pack(**fields))


def descriptor_fields(words) -> dict[str, int]:
    """The fields of one layer's descriptor words (the inverse of :func:`descriptor_words`)."""
    return DESCRIPTOR.unpack(DESCRIPTOR.from_words(words))
