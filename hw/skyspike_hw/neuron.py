"""One Schmitt-neuron update lane: leak, integrate, saturate, hysteresis trigger.

Combinational, or split in two by a register after the leak (``split=True``: the timing of
a 100 MHz clock); :class:`~skyspike_hw.neuron_state.NeuronState` instantiates
``update_lanes`` of them. The integer semantics are docs/semantics.md's; the reference is
``skyspike.chip.golden.neuron_step`` (tests/hw/test_neuron.py).
"""
from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from skyspike.spec.config import BETA_SHIFT, MEMBRANE_BITS


class NeuronLane(wiring.Component):
    """Update of one neuron for one time step.

    Parameters
    ----------
    acc_bits : int
        Width of the signed synaptic current from the accumulator.
    split : bool
        False: combinational. True: a register after the leak stage (``first``, ``v_in``,
        ``armed_in``, ``fired_in``, ``beta``, ``reset_sub``, ``reset_zero`` are used in one
        cycle; ``current``, ``theta_high``, ``theta_low`` and the outputs belong to the next).

    Attributes
    ----------
    first : In(1)
        Step 0 of an inference: the stored state is ignored (V=0, armed, not fired).
    v_in, armed_in, fired_in : In
        Stored state: membrane (signed 16), armed flag, "fired at the previous step" flag.
    current : In(signed(acc_bits))
        Sum of this step's weighted input spikes.
    beta : In(9)
        Leak numerator over 256 (0..256).
    theta_high, theta_low, reset_sub : In(signed(16))
        Fire at V >= theta_high when armed; re-arm below theta_low; subtract-mode reset amount.
    reset_zero : In(1)
        A spike resets the next step's leaked membrane to 0 instead of subtracting.
    load : In(1), init 1
        ``split=True``: the leak stage's register loads only in cycles with ``load`` (it holds
        otherwise, and its clock can be gated); unused when ``split=False``.
    v_out, armed_out, spike : Out
        New state; ``spike`` is also the new "fired" flag.
    """

    def __init__(self, acc_bits: int, *, split: bool = False):
        if acc_bits < MEMBRANE_BITS:
            raise ValueError(f"acc_bits must be >= {MEMBRANE_BITS}, not {acc_bits}")
        if not isinstance(split, bool):
            raise TypeError(f"split must be a bool, not {split!r}")
        self.acc_bits = acc_bits
        self.split = split
        super().__init__({
            "first": In(1),
            "v_in": In(signed(MEMBRANE_BITS)),
            "armed_in": In(1),
            "fired_in": In(1),
            "current": In(signed(acc_bits)),
            "beta": In(unsigned(BETA_SHIFT + 1)),
            "theta_high": In(signed(MEMBRANE_BITS)),
            "theta_low": In(signed(MEMBRANE_BITS)),
            "reset_sub": In(signed(MEMBRANE_BITS)),
            "reset_zero": In(1),
            "load": In(1, init=1),
            "v_out": Out(signed(MEMBRANE_BITS)),
            "armed_out": Out(1),
            "spike": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        vmax = (1 << (MEMBRANE_BITS - 1)) - 1
        vmin = -(1 << (MEMBRANE_BITS - 1))

        v0 = Mux(self.first, 0, self.v_in)
        armed0 = self.first | self.armed_in
        fired0 = ~self.first & self.fired_in

        leaked = Signal(signed(MEMBRANE_BITS + 1))
        m.d.comb += leaked.eq((v0 * self.beta + (1 << (BETA_SHIFT - 1))) >> BETA_SHIFT)
        base = Signal(signed(MEMBRANE_BITS + 2))
        with m.If(fired0 & self.reset_zero):
            m.d.comb += base.eq(0)
        with m.Elif(fired0):
            m.d.comb += base.eq(leaked - self.reset_sub)
        with m.Else():
            m.d.comb += base.eq(leaked)

        if self.split:   # the leak's multiply and the integration's adds in separate cycles
            base_q, armed_q = Signal.like(base), Signal()
            with m.If(self.load):
                m.d.sync += [base_q.eq(base), armed_q.eq(armed0)]
            base, armed0 = base_q, armed_q

        total = Signal(signed(max(self.acc_bits, MEMBRANE_BITS + 2) + 1))
        m.d.comb += total.eq(base + self.current)
        with m.If(total > vmax):
            m.d.comb += self.v_out.eq(vmax)
        with m.Elif(total < vmin):
            m.d.comb += self.v_out.eq(vmin)
        with m.Else():
            m.d.comb += self.v_out.eq(total)

        # theta_low == theta_high: zero-width hysteresis, a plain comparator (LIF).
        hysteresis = self.theta_low < self.theta_high
        fire = (self.v_out >= self.theta_high) & (armed0 | ~hysteresis)
        m.d.comb += [
            self.spike.eq(fire),
            self.armed_out.eq(~hysteresis | (~fire & (armed0 | (self.v_out < self.theta_low)))),
        ]
        return m
