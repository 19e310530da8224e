"""Plots (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def spike_raster(result_spikes_per_layer, sample: int, path: str | Path, title: str = "",
                 inputs: np.ndarray | None = None, layer_names: list[str] | None = None,
                 highlight: int | None = None) -> Path:
    """Save a spike raster of one sample as PNG: one panel per layer (neuron index vs time
    step, a dot per spike), the input raster first when ``inputs`` (batch, steps, n_in) is given.

    ``result_spikes_per_layer``: a list of per-layer bool arrays (batch, steps, n_out)
    (GoldenResult.spikes / RTLResult.spikes), or a result object with ``.spikes``.
    ``highlight``: an output neuron (e.g. the prediction) to mark in the last panel.
    """
    plt = _pyplot()
    layers = getattr(result_spikes_per_layer, "spikes", result_spikes_per_layer)
    panels: list[tuple[str, np.ndarray]] = []
    if inputs is not None:
        panels.append(("input", np.asarray(inputs)[sample]))
    for i, s in enumerate(layers):
        name = layer_names[i] if layer_names else (f"layer {i}" + (" (output)" if i == len(layers) - 1 else ""))
        panels.append((name, np.asarray(s)[sample]))
    heights = [max(1.0, min(4.0, p.shape[1] / 32)) for _, p in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 1.2 + 1.3 * sum(heights)), sharex=True,
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (name, sp) in zip(axes[:, 0], panels):
        steps, n = sp.shape
        t, idx = np.nonzero(sp)
        ax.scatter(t, idx, s=max(2, 60 / max(1, n / 16)), marker="|" if n > 32 else "o", color="black",
                   linewidths=1)
        ax.set_ylim(-0.5, n - 0.5)
        ax.set_xlim(-0.5, steps - 0.5)
        ax.set_ylabel(f"{name}\nneuron")
        ax.text(1.0, 1.0, f"{int(sp.sum())} spikes", transform=ax.transAxes, ha="right", va="bottom",
                fontsize=8)
        if n <= 16:
            ax.set_yticks(range(n))
        ax.grid(True, alpha=0.25)
    if highlight is not None:
        axes[-1, 0].axhspan(highlight - 0.5, highlight + 0.5, color="tab:orange", alpha=0.25)
    axes[-1, 0].set_xlabel("time step")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = ["spike_raster"]


def accuracy_vs_precision(rows: list[dict], path: str | Path, title: str = "accuracy vs. weight precision") -> Path:
    """Save test accuracy against weight bits as PNG. ``rows``: dicts with ``dataset``,
    ``bits`` and accuracies in 0..1 under ``chip`` (solid) and optionally ``float`` (dashed)
    and ``chip_ptq`` (dotted)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        rs = sorted((r for r in rows if r["dataset"] == ds), key=lambda r: r["bits"])
        bits = [r["bits"] for r in rs]
        line, = ax.plot(bits, [100 * r["chip"] for r in rs], "o-", label=f"{ds}: chip")
        for key, style, what in (("chip_ptq", "s:", "chip, no fine-tuning"), ("float", "x--", "float")):
            if all(key in r for r in rs):
                ax.plot(bits, [100 * r[key] for r in rs], style, color=line.get_color(), label=f"{ds}: {what}")
    ticks = sorted({r["bits"] for r in rows})
    ax.set_xscale("log", base=2)
    ax.set_xticks(ticks, [str(b) for b in ticks])
    ax.set_xlabel("weight precision (bits)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
