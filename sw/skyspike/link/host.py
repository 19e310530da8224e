"""Host side of a chip behind the host protocol (docs/protocol.md): load a chip image, run
inferences, read results. The same code drives real hardware over a serial port
(:class:`skyspike.link.links.SerialLink`), the simulated SoC's UART
(:mod:`skyspike.rtlsim.uartlink`) and the fake device of the tests."""
from __future__ import annotations

import numpy as np

from skyspike.errors import DeviceError
from skyspike.spec import memmap as mm
from skyspike.spec.config import CoreConfig
from skyspike.chip.image import ChipImage, image_writes, input_writes
from skyspike.chip.network import value_planes
from skyspike.chip.readback import state_membranes
from skyspike.link.client import HostClient, Identity
from skyspike.link.streaming import StreamGeometry, StreamResult

CAP_NAMES = ("CAPS0", "CAPS1", "CAPS2", "CAPS3")


class DeviceMismatch(DeviceError):
    """The device is not a SkySpike core of the configuration an image was built for."""


def word_runs(writes):
    """Group (address, word) writes into runs of consecutive addresses: (address, [words])."""
    run_addr, words = None, []
    for addr, word in writes:
        if run_addr is not None and addr == run_addr + 4 * len(words):
            words.append(word)
            continue
        if words:
            yield run_addr, words
        run_addr, words = addr, [word]
    if words:
        yield run_addr, words


def check_identity(ident: Identity, cfg: CoreConfig) -> None:
    """DeviceMismatch unless the device is a SkySpike core with ``cfg``'s capabilities."""
    if not ident.core_ok:
        raise DeviceMismatch(f"the device's core ID is 0x{ident.core_id:08x}, not SkySpike's 0x{mm.CORE_ID:08x}")
    caps = mm.caps_words(cfg)
    expect = tuple(caps[name] for name in CAP_NAMES)
    if tuple(ident.caps) != expect:
        got = ", ".join(f"{n}=0x{v:08x}" for n, v in zip(CAP_NAMES, ident.caps))
        want = ", ".join(f"{n}=0x{v:08x}" for n, v in zip(CAP_NAMES, expect))
        raise DeviceMismatch(f"the device's core has other capabilities ({got}) than the configuration "
                             f"the image was built for ({want}): recompile for the device's configuration")


def load_image(client: HostClient, image: ChipImage) -> None:
    """Write the image's descriptors, NET register and weights."""
    for addr, words in word_runs(image_writes(image)):
        client.write_mem(addr, words)


def infer(client: HostClient, image: ChipImage, spikes: np.ndarray, n_outs: list[int], *,
          use_irq: bool = True, timeout_cycles: int = 5_000_000):
    """One inference: (RunResult, counts, final membranes per layer). Raises
    :class:`skyspike.link.client.CoreError` if the core reports an error."""
    for addr, words in word_runs(input_writes(spikes, image)):
        client.load_inputs(words, offset=addr - mm.INPUT_BASE)
    result = client.run(use_irq=use_irq, timeout_cycles=timeout_cycles)
    first = image.placement.layers[0].state_base
    last = image.placement.layers[-1].state_base + n_outs[-1]
    res = client.read_results(n_outs[-1], state_first=first, n_state=last - first)
    finals = []
    for lp, n in zip(image.placement.layers, n_outs):
        finals.append(state_membranes(res.state[lp.state_base - first: lp.state_base - first + n]))
    return result, np.array(res.counts), finals


def stream_geometry(image: ChipImage, n_in: int, n_out: int) -> StreamGeometry:
    """The STREAM geometry of ``image``: ``n_in`` inputs, ``n_out`` outputs of the last layer."""
    pl = image.placement
    return StreamGeometry(frames=image.input_frames, frame_bytes=-(-n_in // 8), stride=pl.input_words_per_bank,
                          n_out=n_out, out_state=pl.layers[-1].state_base)


def stream_bytes(sample: np.ndarray, image: ChipImage) -> bytes:
    """One inference's input as STREAM sends it: frame by frame (time steps, or the bit planes
    of graded input, most significant first), input i at byte i // 8, bit i % 8."""
    bitmaps = value_planes(sample, image.input_bits) if image.graded else np.asarray(sample)
    return np.packbits(np.asarray(bitmaps, bool), axis=1, bitorder="little").tobytes()


def run_inferences(client: HostClient, image: ChipImage, samples, n_outs: list[int], *, stream: bool = True,
                   use_irq: bool = True, timeout_cycles: int = 5_000_000, progress=None):
    """Every sample's (counts, finals per layer, cycles) as arrays. ``stream``: through one
    STREAM (the last layer's final membranes only: the others are None), else one LOAD_INPUTS /
    RUN / READ_RESULTS exchange per sample (every layer's)."""
    if stream:
        r = infer_stream(client, image, samples, n_outs[-1], counts=True, membranes=True, cycles=True,
                         timeout_cycles=timeout_cycles)
        if progress:
            progress(len(r.classes))
        return r.counts, [None] * (len(n_outs) - 1) + [r.membranes], r.cycles
    cycles, counts, finals = [], [], [[] for _ in n_outs]
    for sample in samples:
        result, c, f = infer(client, image, sample, n_outs, use_irq=use_irq, timeout_cycles=timeout_cycles)
        cycles.append(result.cycles)
        counts.append(c)
        for i, fi in enumerate(f):
            finals[i].append(fi)
        if progress:
            progress(1)
    return np.array(counts), [np.array(f) for f in finals], np.array(cycles)


def infer_stream(client: HostClient, image: ChipImage, samples, n_out: int, **kwargs) -> StreamResult:
    """Every sample's inference through one STREAM (``kwargs``: HostClient.stream's)."""
    samples = list(samples)
    if not samples:
        raise ValueError("infer_stream: no samples")
    n_in = np.asarray(samples[0]).shape[-1]
    return client.stream([stream_bytes(s, image) for s in samples], stream_geometry(image, n_in, n_out), **kwargs)


__all__ = ["DeviceMismatch", "check_identity", "load_image", "infer", "infer_stream", "run_inferences", "stream_geometry",
           "stream_bytes", "word_runs"]
