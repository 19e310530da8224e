"""The RTL backend's fast path (skyspike.rtlsim.run_rtl with backdoor=True: the SRAM models
loaded directly, the run's end from the interrupt), as `make sim` uses it: the same results as
the golden model, and progress events as the run goes. (The bus path, what a host does, is
tests/sw/test_backends.py's RTL test and the whole-core regression.)"""
from __future__ import annotations

import numpy as np

from skyspike.chip import golden
from skyspike.chip.testing import random_inputs, random_network
from skyspike.rtlsim import RTLEvent, run_rtl
from skyspike.spec.config import CONFIGS
from simrun import BUILD


def test_backdoor_run_equals_golden_and_reports_progress():
    cfg = CONFIGS["small"]
    rng = np.random.default_rng(12)
    net = random_network(rng, cfg, max_layers=3)
    x = random_inputs(rng, net, 3, density=0.3)
    events: list[RTLEvent] = []
    rtl = run_rtl(net, x, cfg, sim="icarus", backdoor=True, build_dir=BUILD / "rtlsim", progress=events.append)
    gold = golden.run(net, x, cfg)
    assert np.array_equal(rtl.counts, gold.counts) and np.array_equal(rtl.cycles, gold.cycles)
    for a, b in zip(rtl.finals, gold.membranes):
        assert np.array_equal(a, b[:, -1])
    for a, b in zip(rtl.spikes, gold.spikes):
        assert np.array_equal(a, b)
    assert [e.kind for e in events] == ["started", "loaded", "sample", "sample", "sample"]
    assert [e.cycles for e in events[2:]] == gold.cycles.tolist()
    assert [list(e.counts) for e in events[2:]] == gold.counts.tolist()


def test_graded_inputs_on_the_chip_configuration():
    """Direct and rate-coded input at MNIST's size on the sky130 configuration (Verilator): 784
    inputs are 25 words, 7 rows of the 4 input banks, so the planes of several rows, and the
    encoder's rows, are read; RTL == golden, spikes, membranes and cycles."""
    from skyspike.chip.network import ChipLayer, ChipNetwork

    cfg = CONFIGS["chip"]
    rng = np.random.default_rng(21)
    for mode, bits, hidden, steps in (("direct", 4, 40, 3), ("rate", 8, 24, 3), ("rate", 1, 16, 2)):
        w0 = rng.integers(-8, 8, (784, hidden))
        scale = (1 << bits) - 1 if mode == "direct" else 1
        net = ChipNetwork([ChipLayer(w0, bits=4, theta_high=40 * scale, theta_low=20 * scale, beta=230,
                                     bias=rng.integers(-8, 8, (3, hidden))),
                           ChipLayer(rng.integers(-8, 8, (hidden, 10)), bits=4, theta_high=12)],
                          steps=steps, input_mode=mode, input_bits=bits, seed=int(rng.integers(0, 1 << 32)))
        x = random_inputs(rng, net, 2, density=0.3)
        rtl = run_rtl(net, x, cfg, sim="verilator", backdoor=True, build_dir=BUILD / "rtlsim")
        gold = golden.run(net, x, cfg)
        assert np.array_equal(rtl.cycles, gold.cycles), (mode, bits, rtl.cycles, gold.cycles)
        for a, b in zip(rtl.spikes, gold.spikes):
            assert np.array_equal(a, b), (mode, bits)
        for a, b in zip(rtl.finals, gold.membranes):
            assert np.array_equal(a, b[:, -1]), (mode, bits)
        assert gold.spikes[0].any(), f"{mode}: layer 0 never spiked, a weak check"
