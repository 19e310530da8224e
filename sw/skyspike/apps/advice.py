"""Which weight precision to use: for each one, whether the network fits the core, its accuracy
on the chip with the rule and with calibration, and whether fine-tuning is advised (with the
command). `skyspike sweep` prints it always, `skyspike compile --calibrate` with its validation."""
from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table

from skyspike.errors import NetworkError
from skyspike.spec.config import PRECISIONS

#: Points of accuracy below float that still count as "ready" (no fine-tuning advised).
TOLERANCE = 1.0


@dataclass
class PrecisionRow:
    bits: int
    fits: str                    # "yes" or why not
    float_acc: float
    rule_acc: float
    calibrated_acc: float | None  # None: not calibrated

    @property
    def best(self) -> float:
        return self.rule_acc if self.calibrated_acc is None else max(self.rule_acc, self.calibrated_acc)

    @property
    def gap(self) -> float:
        """Points below float of the best chip accuracy."""
        return 100 * (self.float_acc - self.best)


def precision_rows(fnet, reference, steps: int, options: dict, cfg, x, y, calibration=None, *,
                   known: dict | None = None, progress=None) -> list[PrecisionRow]:
    """One row per precision: quantized by the rule and, with ``calibration`` = (inputs, labels),
    calibrated; accuracies on ``x`` (encoded test inputs) and ``y``. ``known``: {bits: calibrated
    network} already computed (compile's own). ``progress(bits)`` before each precision."""
    from skyspike.compiler import quantize as Q

    rows = []
    for bits in PRECISIONS:
        if progress:
            progress(bits)
        try:
            rule = Q.quantize(fnet, bits, steps, **options)
        except NetworkError as e:   # values outside the chip's fields at this precision
            rows.append(PrecisionRow(bits, f"no: {e}", float("nan"), float("nan"), None))
            continue
        fits = _fits(rule, cfg)
        rep = Q.quantization_report(reference, rule, x, y)
        cal = None
        if calibration is not None and fits == "yes":
            net = (known or {}).get(bits) or Q.quantize(fnet, bits, steps, calibrate=calibration, **options)
            cal = Q.quantization_report(reference, net, x, y).golden_accuracy
        rows.append(PrecisionRow(bits, fits, rep.float_accuracy, rep.golden_accuracy, cal))
    return rows


def _fits(net, cfg) -> str:
    try:
        net.check(cfg)
    except NetworkError as e:
        return f"no: {e}"
    return "yes"


def precision_table(rows: list[PrecisionRow], title: str) -> Table:
    t = Table(title=title, title_justify="left")
    for c in ("bits", "fits", "float", "chip (rule)", "chip (calibrated)", "advice"):
        t.add_column(c, justify="left" if c in ("fits", "advice") else "right")
    for r in rows:
        cal = "-" if r.calibrated_acc is None else f"{100 * r.calibrated_acc:.2f}%"
        t.add_row(str(r.bits), r.fits[:48], f"{100 * r.float_acc:.2f}%", f"{100 * r.rule_acc:.2f}%", cal, verdict(r))
    t.caption = f"ready: within {TOLERANCE:g} pt of float; calibrated: compile --calibrate"
    t.caption_justify = "left"
    return t


def verdict(r: PrecisionRow) -> str:
    if r.fits != "yes":
        return "does not fit"
    if r.gap <= TOLERANCE:
        return "ready" + (" with --calibrate" if r.calibrated_acc is not None and r.rule_acc < r.calibrated_acc
                          and 100 * (r.float_acc - r.rule_acc) > TOLERANCE else "")
    if r.calibrated_acc is None:
        return f"{r.gap:.1f} pt below float: try --calibrate"
    return f"{r.gap:.1f} pt below float: fine-tune"


def advice_lines(rows: list[PrecisionRow], finetune_command) -> list[str]:
    """What to do: the smallest precision that is ready, and the fine-tuning command for the
    smaller ones that fit but lose more than TOLERANCE (``finetune_command(bits)``)."""
    fitting = [r for r in rows if r.fits == "yes"]
    if not fitting:
        return ["no precision fits this core: use a larger configuration or a smaller network"]
    ready = [r for r in fitting if r.gap <= TOLERANCE]
    lines = []
    smallest = min(ready, key=lambda r: r.bits) if ready else None
    if smallest:
        lines.append(f"smallest precision within {TOLERANCE:g} pt of float: {smallest.bits} bits")
    for r in sorted(fitting, key=lambda r: r.bits):
        if r.gap > TOLERANCE and (smallest is None or r.bits < smallest.bits) and r.calibrated_acc is not None:
            lines.append(f"{r.bits}-bit: fine-tuning advised ({r.gap:.1f} pt below float after calibration): "
                         f"{finetune_command(r.bits)}")
    return lines


def finetune_command(model, dataset: str, data, steps: int, nir_reset: str, encoding: str | None,
                     input_bits: int | None, supported: bool):
    """``bits -> the command that fine-tunes this model``; the project's QAT recipe where
    `skyspike finetune` cannot write the model (Schmitt or readout layers)."""
    def command(bits: int) -> str:
        if not supported:
            return f"skyspike train --bits {bits} (the project's recipe; finetune writes snn.Leaky models only)"
        extra = f" --data {data}" if data else ""
        if encoding in ("values", "chip-rate"):
            extra += f" --encoding {encoding} --input-bits {input_bits}"
        reset = f" --nir-reset {nir_reset}" if str(model).lower().endswith((".nir", ".h5", ".hdf5")) else ""
        stem = str(model).rsplit(".", 1)[0]
        return (f"skyspike finetune {model} -o {stem}-{bits}bit.nir --bits {bits} --steps {steps} "
                f"--dataset {dataset}{reset}{extra}")
    return command


__all__ = ["PrecisionRow", "precision_rows", "precision_table", "advice_lines", "finetune_command", "verdict",
           "TOLERANCE"]
