"""Bad input, as a careless or hostile user gives it, at every public entry point: network files,
model import and quantization, backends, encoders, the CLI, the host client and the emulated
chip. Every case is invalid by construction; each outcome is one of

* clear: the documented error (a skyspike.errors type, or TypeError for an unknown keyword), or
  for the CLI a one-line message / usage error and a non-zero exit;
* traceback: any other exception (or a CLI traceback / internal error);
* hang: no answer within the case's time limit;
* silent: accepted (a damaged network file that loads as another network, bad values used).

    .venv/bin/python bench/robustness.py        # prints the table, writes build/bench/robustness.json
"""
from __future__ import annotations

import json
import math
import os
import random
import struct
import sys
import time
import traceback
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "sw"))

from skyspike.errors import SkySpikeError  # noqa: E402

OUT = ROOT / "build" / "bench"
#: The documented errors: the project's, and TypeError/ValueError for bad arguments -- counted as
#: clear only when the project raised them (not numpy or torch failing deeper down).
CLEAR = (SkySpikeError, TypeError, ValueError)


def raised_here(e: BaseException) -> bool:
    if isinstance(e, SkySpikeError):
        return True
    frames = traceback.extract_tb(e.__traceback__)
    return bool(frames) and ("/skyspike/" in frames[-1].filename or "/typer/" in frames[-1].filename)


def outcome(fn, *, limit: float = 10.0) -> str:
    t = time.monotonic()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
    except (Unchanged, Answered):
        return "clear"
    except CLEAR as e:
        return "clear" if str(e) and raised_here(e) else "traceback"
    except Exception:  # noqa: BLE001 - that is what is being counted
        if os.environ.get("ROBUSTNESS_DEBUG"):
            traceback.print_exc()
        return "traceback"
    return "hang" if time.monotonic() - t > limit else "silent"


# -- network files ------------------------------------------------------------------------------

def network_files(tmp: Path):
    from skyspike.chip.netfile import load_compiled, save_compiled
    from skyspike.chip.testing import random_network
    from skyspike.spec.config import CONFIGS

    net = random_network(np.random.default_rng(2), CONFIGS["small"], max_layers=3)
    good = tmp / "good.npz"
    save_compiled(good, net, CONFIGS["small"], {"config": "small"})
    raw = good.read_bytes()
    rng = random.Random(1)
    cases = [raw[:n] for n in range(0, len(raw), max(1, len(raw) // 265))]
    for _ in range(265):
        b = bytearray(raw)
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        cases.append(bytes(b))
    cases += [b"", b"text, not a zip\n", b"PK\x03\x04" + bytes(100)]
    for data in cases:
        path = tmp / "case.npz"
        path.write_bytes(data)

        def load(path=path):
            back, _ = load_compiled(path)
            same = back.steps == net.steps and all(np.array_equal(a.weights, b.weights)
                                                   for a, b in zip(back.layers, net.layers))
            if same:
                raise Unchanged()
        yield "network files", load


class Unchanged(SkySpikeError):
    """Not a defect: a flipped bit the file format ignores (a zip timestamp) loads the same
    network; a random change that left a descriptor table valid ran; a valid command answered."""


class Answered(SkySpikeError):
    """An answered refusal: the core's error code, the firmware's status, or the CLI's message."""


def manifests(tmp: Path):
    rng = random.Random(3)
    values = [None, True, -1, 0, 2**40, 1.5, math.nan, "x", [], {}, [1], {"a": 1}]
    keys = ["bits", "beta", "theta_high", "theta_low", "reset_sub", "reset_zero", "slots", "scale", "other"]
    from skyspike.chip.netfile import load_network
    for i in range(60):
        layer = {k: rng.choice(values) for k in rng.sample(keys, rng.randrange(len(keys)))}
        manifest = {"format": "skyspike-chip-network", "version": rng.choice([2, 2, 1, 3, None]),
                    "steps": rng.choice(values + [3]), "layers": rng.choice([[layer], layer, [], None])}
        path = tmp / f"m{i}.npz"
        with open(path, "wb") as fh:
            np.savez(fh, manifest=np.array(json.dumps(manifest)), weights_0=np.ones((3, 2), np.int8))
        yield "network files", lambda path=path: load_network(path)


# -- model import and quantization --------------------------------------------------------------

def models():
    import snntorch as snn
    import torch
    from torch import nn

    from skyspike.compiler.neurons import Schmitt
    from skyspike.compiler.quantize import quantize
    from skyspike.spec.config import CONFIGS

    lif = snn.Leaky(beta=0.9)
    nan_linear = nn.Linear(4, 3)
    with torch.no_grad():
        nan_linear.weight[0, 0] = float("nan")
    bad = [
        nn.Sequential(nn.Linear(4, 3), nn.ReLU()), nn.Sequential(nn.Linear(4, 3), nn.RNN(3, 3)),
        nn.Sequential(nn.Conv1d(1, 1, 3), lif), nn.Sequential(nan_linear, lif), nn.Sequential(),
        nn.Sequential(nn.Linear(4, 3)), nn.Sequential(lif), nn.Sequential(nn.Linear(4, 3), lif, nn.Linear(5, 2), lif),
        nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2), lif), "a string", 42, None, [1, 2],
        nn.Sequential(nn.Linear(4, 3), snn.Leaky(beta=0.9, reset_mechanism="none")),
        nn.Sequential(nn.Linear(4, 3), snn.Synaptic(alpha=0.5, beta=0.9)),
        nn.Sequential(nn.Linear(4, 3), snn.Leaky(beta=torch.tensor([0.5, 0.9, 0.1]))),
        nn.Sequential(nn.Linear(4, 3), snn.Leaky(beta=0.9, threshold=float("inf"))),
        Path("missing.nir"), Path("model.pt"),
    ]
    for model in bad:
        yield "model import", lambda model=model: quantize(model, 4, 8)
    too_big = nn.Sequential(nn.Linear(2000, 3), lif)   # more inputs than the chip takes
    yield "model import", lambda: quantize(too_big, 4, 8).check(CONFIGS["chip"])
    for value in (math.nan, math.inf, -math.inf):
        for field in ("beta", "theta_high", "theta_low", "reset_sub"):
            yield "model import", lambda v=value, f=field: nn.Sequential(nn.Linear(4, 3), Schmitt(**{f: v}))
    good = nn.Sequential(nn.Linear(4, 3), snn.Leaky(beta=0.9))
    for kwargs in ({"bits": True}, {"bits": 3}, {"bits": "4"}, {"bits": 4.0}, {"bits": -1}, {"bits": None},
                   {"steps": 0}, {"steps": 300}, {"steps": 2.5}, {"scales": [1.0, 2.0]}, {"align_treshold": True},
                   {"rule": "median"}, {"bits": [4, 4]}, {"reset": "maybe"}):
        args = {"bits": 4, "steps": 8, **kwargs}
        yield "model import", lambda a=args: quantize(good, **a)


# -- backends and encoders ----------------------------------------------------------------------

def backends():
    from skyspike.backends import GoldenBackend
    from skyspike.chip.testing import random_network
    from skyspike.spec.config import CONFIGS

    net = random_network(np.random.default_rng(4), CONFIGS["small"], max_layers=2)
    shape = (2, net.steps, net.layers[0].n_in)
    for value in (0.5, 2, -1, math.nan, math.inf, "0", "1", None, 1j):
        x = np.full(shape, value, dtype=object if isinstance(value, (str, type(None), complex)) else None)
        yield "backends", lambda x=x: GoldenBackend().run(net, x, "small")
    for bad_shape in ((0,) + shape[1:], shape[1:2], (2, net.steps + 1, shape[2]), (2, net.steps, shape[2] + 1), ()):
        yield "backends", lambda s=bad_shape: GoldenBackend().run(net, np.zeros(s, bool), "small")
    yield "backends", lambda: GoldenBackend().run(net, [[1, 0], [1]], "small")
    yield "backends", lambda: GoldenBackend().run(net, np.zeros(shape, bool), "medium")


def encoders():
    from skyspike.compiler import encode

    xs = [None, 0.5, "abc", [], np.full((2, 4), np.nan), -np.ones((2, 4)), 2 * np.ones((2, 4)), np.zeros((0, 4)),
          [[0.1, 0.2], [0.3]]]
    for x in xs:
        yield "encoders", lambda x=x: encode.rate(x, 4)
        yield "encoders", lambda x=x: encode.direct(x, 4)
    good = np.full((2, 4), 0.5)
    for steps in (0, -1, 10**7, 2.5, True, None, "8"):
        yield "encoders", lambda s=steps: encode.rate(good, s)
    for gain in (math.nan, -1, math.inf, None, "1"):
        yield "encoders", lambda g=gain: encode.rate(good, 4, gain=g)
    for threshold in (math.nan, math.inf, None):
        yield "encoders", lambda t=threshold: encode.direct(good, 4, threshold=t)
    for enc in ({"method": "morse"}, {"method": "rate", "gain": math.nan}, {"method": "rate", "gain": -2},
                {"method": "direct", "threshold": "x"}, {"method": "rate", "extra": 1}, None, []):
        yield "encoders", lambda e=enc: encode.check_encoding(e)


# -- the CLI ------------------------------------------------------------------------------------

def cli(tmp: Path):
    from typer.testing import CliRunner

    from skyspike.apps.cli import app

    runner = CliRunner()
    model, net = tmp / "m.pt", tmp / "m.npz"
    runner.invoke(app, ["train", "--epochs", "1", "--hidden", "8", "--steps", "4", "-o", str(model),
                        "--compile", str(net)])
    (tmp / "trunc.npz").write_bytes(net.read_bytes()[:1500])
    (tmp / "empty.npz").write_bytes(b"")
    m, n = str(model), str(net)
    cases = [
        ["sweep", m, "--config", "foo"], ["sweep", m, "--steps", "300"], ["sweep", m, "--limit", "0"],
        ["run", n, "--seed", "-1"], ["run", n, "--via", "foo"], ["run", n, "--raster", str(tmp / "x.npz")],
        ["info", str(tmp / "trunc.npz"), "--config", "small"], ["compile", m, "-o", str(tmp / "no" / "x.npz")],
        ["train", "-o", str(tmp / "q.pt"), "--steps", "0"], ["train", "-o", str(tmp / "q.pt"), "--batch", "0"],
        ["train", "-o", str(tmp / "q.pt"), "--hidden", "-3"], ["train", "-o", str(tmp / "q.pt"), "--lr", "nan"],
        ["train", "-o", str(tmp / "q.pt"), "--bits", "3"], ["eval", n, "--limit", "-3"], ["run", n, "--start", "-5"],
        ["compile", m, "-o", str(tmp / "y.npz"), "--steps", "0"], ["compile", m, "-o", str(tmp / "y.npz"), "--validate", "-1"],
        ["train", "-o", str(tmp / "q.pt"), "--hidden", "0"], ["train", "-o", str(tmp / "q.pt"), "--beta", "1.5"],
        ["train", "-o", str(tmp / "q.pt"), "--neuron", "schmitt", "--hysteresis", "2"],
        ["compile", m, "-o", str(tmp / "z.npz"), "--gain", "nan"], ["compile", m, "-o", str(tmp / "z.npz"), "--gain", "-1"],
        ["compile", m, "-o", str(tmp / "z.npz"), "--dataset", "foo"], ["compile", m, "-o", str(tmp / "z.npz"), "--bits", "3"],
        ["compile", str(tmp / "missing.pt"), "-o", str(tmp / "z.npz")], ["info", str(tmp / "empty.npz")],
        ["eval", str(tmp / "trunc.npz")], ["run", n, "--start", "5000"], ["eval", n, "--dataset", "cifar"],
        ["run", n, "--backend", "serial"], ["run", n, "--backend", "serial", "--port", str(tmp / "nodev")],
        ["compile", n, "-o", str(tmp / "z.npz")], ["sweep", n], ["info", m], ["run", m],
        ["compile", m, "-o", str(tmp / "z.npz"), "--bits", "4,4,4"], ["compile", m, "-o", str(tmp)],
        ["train", "-o", str(tmp / "q.pt"), "--dataset", "mnist", "--data", str(tmp)],
    ]
    for args in cases:
        def run(args=args):
            res = runner.invoke(app, args)
            if res.exit_code == 0:
                return                                   # accepted: silent
            if "Traceback" in res.output or "internal error" in res.output or res.exit_code == 3:
                raise RuntimeError(res.output)           # a traceback
            raise Answered(res.output.strip() or "usage error")
        yield "CLI", run


# -- the host link and the emulated chip -----------------------------------------------------------

def host_client():
    from skyspike.emu.firmware_model import ModelLink
    from skyspike.link.client import HostClient

    client = HostClient(ModelLink(), timeout=0.2)
    calls = [lambda: client.read_mem(-4, 1), lambda: client.read_mem(2, 1), lambda: client.read_mem(0, -1),
             lambda: client.read_mem(0x4_0000, 1), lambda: client.read_mem(0.5, 1), lambda: client.read_mem(0, 2**20),
             lambda: client.write_mem(0, [2**40]), lambda: client.write_mem(0, [1.7]), lambda: client.write_mem(0, [-1]),
             lambda: client.write_mem(-8, [1]), lambda: client.write_mem(0x3_FFFC, [1, 2]), lambda: client.write_mem(0, ["x"]),
             lambda: client.load_inputs([1], offset=0x3_0000), lambda: client.load_inputs([1], offset=-4),
             lambda: client.run(timeout_cycles=0), lambda: client.run(timeout_cycles=2**33),
             lambda: client.read_results(-1), lambda: client.read_results(70000), lambda: client.read_results(1, count_first=True)]
    for call in calls:
        yield "host client", call


def emulated_chip():
    from skyspike.chip.image import build_image
    from skyspike.chip.testing import random_network
    from skyspike.emu.fakechip import FakeChip
    from skyspike.link.client import HostClient, RemoteError
    from skyspike.link.commands import Cmd
    from skyspike.link.host import load_image
    from skyspike.link.links import SerialLink
    from skyspike.spec import memmap as mm
    from skyspike.spec.config import CONFIGS
    from skyspike.spec.layouts import DESCRIPTOR

    chip = FakeChip("small").__enter__()
    link = SerialLink.open(chip.port, 115200)
    client = HostClient(link, timeout=0.5)
    image = build_image(random_network(np.random.default_rng(6), CONFIGS["small"], max_layers=3), CONFIGS["small"])
    load_image(client, image)
    rng = np.random.default_rng(8)
    for _ in range(150):   # a broken descriptor table: the core's error, and the chip keeps serving
        layer = int(rng.integers(0, image.n_layers))
        f = DESCRIPTOR.unpack(DESCRIPTOR.from_words([int(w) for w in image.descriptors[layer]]))
        name = str(rng.choice([x.name for x in DESCRIPTOR]))
        f[name] = int(rng.integers(DESCRIPTOR[name].lo, DESCRIPTOR[name].hi + 1))

        def bad_table(layer=layer, f=f):
            client.write_mem(mm.DESC_BASE + 32 * layer, DESCRIPTOR.words(DESCRIPTOR.pack(**f)))
            result = client.run(check=False)
            load_image(client, image)
            if not result.error:
                raise Unchanged()   # the change kept the table valid: it ran
            client.identify()
            raise Answered()
        yield "emulated chip", bad_table
    rnd = random.Random(9)
    for _ in range(1000):   # random commands with valid CRCs
        cmd = rnd.choice(list(Cmd))
        payload = bytes(rnd.randrange(256) for _ in range(rnd.choice([0, 1, 4, 6, 8, 40])))
        if cmd == Cmd.RUN:
            payload = struct.pack("<BI", rnd.randrange(2), rnd.randrange(1, 10_000))

        def command(cmd=cmd, payload=payload):
            try:
                client.request(cmd, payload, retry=False)
            except RemoteError as e:
                raise Answered() from e   # the firmware refused it, and said why
            raise Unchanged()             # a valid command: answered
        yield "emulated chip", command


def main() -> int:
    import tempfile

    console = Console(width=120)
    results: dict[str, Counter] = defaultdict(Counter)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        sources = [network_files(tmp), manifests(tmp), models(), backends(), encoders(), cli(tmp), host_client(),
                   emulated_chip()]
        for source in sources:
            for category, fn in source:
                results[category][outcome(fn)] += 1
    t = Table(title="Bad input per entry point (bench/robustness.py)")
    for col in ("category", "cases", "clear errors", "tracebacks", "hangs", "silent"):
        t.add_column(col, justify="right")
    for category, c in results.items():
        t.add_row(category, str(sum(c.values())), str(c["clear"]), str(c["traceback"]), str(c["hang"]),
                  str(c["silent"]))
    console.print(t)
    console.print("clear errors include damaged files that still load as the same network (a flipped "
                  "timestamp bit) and valid commands that were answered.")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "robustness.json").write_text(json.dumps({k: dict(v) for k, v in results.items()}, indent=1))
    bad = sum(c["traceback"] + c["hang"] + c["silent"] for c in results.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
