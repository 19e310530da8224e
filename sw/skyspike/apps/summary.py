"""The network summary that `skyspike compile`/`info` and the demo print: per layer, its size,
precision, neuron parameters and where it sits in the core; then the memories it uses and the
predicted cycles per inference."""
from __future__ import annotations

import numpy as np
from rich.table import Table

from skyspike.chip import golden
from skyspike.chip.network import ChipNetwork, place
from skyspike.spec.config import CoreConfig, config_name


def network_table(net: ChipNetwork, cfg: CoreConfig) -> Table:
    """One row per layer; the caption says what the columns mean."""
    pl = place(net, cfg)
    t = Table(title=f"{len(net.layers)} layers, {net.steps} steps, {input_kind(net)}, on the '{config_name(cfg)}' "
                    f"core ({cfg.banks} weight banks x {cfg.bank_depth} words)", title_justify="left")
    for col in ("layer", "size", "bits", "bias", "beta", "theta", "reset", "slots", "words"):
        t.add_column(col, justify="left" if col in ("layer", "words") else "right", no_wrap=True)
    for i, (ly, lp) in enumerate(zip(net.layers, pl.layers)):
        reset = "to 0" if ly.reset_zero else f"-{ly.reset_sub}"
        t.add_row(f"{i}" + (" out" if i == len(net.layers) - 1 else ""), f"{ly.n_in}->{ly.n_out}", str(ly.bits),
                  str(ly.n_bias), str(ly.beta), f"{ly.theta_high}/{ly.theta_low}", reset,
                  f"{lp.slots}x{lp.chunks}", f"{lp.bank_words} @ {lp.w_base}")
    scales = [ly.scale for ly in net.layers if ly.scale is not None]
    t.caption = ("bias: bias rows; beta: leak x256; theta: fire at >= high, re-arm below low; slots: input events "
                 "per cycle x neuron chunks; words: per bank, used @ first"
                 + (f"; one weight/membrane unit = {', '.join(f'{s:.4f}' for s in scales)} (float)" if scales else ""))
    t.caption_justify = "left"
    return t


def input_kind(net: ChipNetwork) -> str:
    """How layer 0 takes its input, in words."""
    if net.direct:
        return f"direct input ({net.input_bits}-bit values written once, their current added every step)"
    if net.graded:
        return f"rate-coded input ({net.input_bits}-bit values written once, spikes drawn on the chip, seed {net.seed})"
    return "spike input (a bitmap per step)"


def resources(net: ChipNetwork, cfg: CoreConfig) -> str:
    """The weight memory, neuron state and input buffer the network uses, of the core's."""
    pl = place(net, cfg)
    used, avail = pl.weight_words, cfg.bank_depth
    state = sum(-(-ly.n_out // cfg.update_lanes) * cfg.update_lanes for ly in net.layers)
    return (f"weight memory: {used}/{avail} words per bank ({100 * used / avail:.0f}%, "
            f"{used * cfg.banks * 4 / 1024:.1f} of {cfg.weight_bits / 8192:.0f} KiB); neuron state "
            f"{state}/{cfg.state_neurons}; input buffer {net.input_frames * pl.input_words_per_bank}/"
            f"{cfg.input_depth} words per bank")


def _default_inputs(net: ChipNetwork):
    """64 random inputs at 20% density (direct: 20% of the values non-zero), and their label."""
    from skyspike.chip.testing import random_inputs

    return random_inputs(np.random.default_rng(0), net, batch=64, density=0.2), "at 20% random input density"


def predicted_cycles(net: ChipNetwork, cfg: CoreConfig, inputs=None, what: str | None = None) -> str:
    """Golden-predicted cycles per inference on ``inputs`` (spikes or direct values), or at 20%
    random input density (direct: 20% of the values non-zero)."""
    if inputs is None:
        inputs, what = _default_inputs(net)
    g = golden.run(net, inputs, cfg)
    return (f"predicted cycles per inference {what}: mean {g.cycles.mean():.0f} "
            f"(min {g.cycles.min()}, max {g.cycles.max()}); dense scan {golden.dense_cycles(net, cfg)}")


def predicted_energy(net: ChipNetwork, cfg: CoreConfig, inputs=None, what: str | None = None) -> str:
    """Energy per inference (and per synaptic operation) on ``inputs`` predicted by the
    configuration's calibrated energy model (docs/energy.md), or why there is none."""
    from skyspike.chip.energy import EnergyModelMissing, count_events, load_model

    try:
        model = load_model(cfg)
    except EnergyModelMissing as exc:
        return f"energy per inference: not predicted ({exc})"
    if inputs is None:
        inputs, what = _default_inputs(net)
    ev = count_events(net, inputs, cfg)
    uj = model.predict_pj(ev) * 1e-6
    pj_sop = uj.sum() * 1e6 / max(1, int(ev.counts["sops"].sum()))
    err = model.fit.get("worst_held_out_error")
    return (f"predicted energy per inference {what}: mean {uj.mean():.3f} uJ (min {uj.min():.3f}, max {uj.max():.3f}) "
            f"at {1000 / model.period_ns:.0f} MHz, {pj_sop:.1f} pJ per synaptic operation"
            + (f" (energy model of the '{model.config}' core, within {100 * err:.0f}% of gate level, pre-layout)"
               if err is not None else ""))


__all__ = ["network_table", "input_kind", "resources", "predicted_cycles", "predicted_energy"]
