"""The host sequence (skyspike.link.host): the device check against a configuration's
identification words, grouping of writes into runs, and one inference through the model."""
from __future__ import annotations

import numpy as np
import pytest

from skyspike.spec import memmap as mm
from skyspike.spec.config import CONFIGS
from skyspike.spec.layouts import STATE_ENTRY
from skyspike.chip.image import build_image
from skyspike.chip.network import ChipLayer, ChipNetwork
from skyspike.link.client import HostClient, Identity
from skyspike.link.commands import FIRMWARE_VERSION, MAX_PAYLOAD, PROTOCOL_VERSION
from skyspike.link.host import DeviceMismatch, check_identity, infer, load_image, word_runs
from skyspike.emu.core_model import CoreModel
from skyspike.emu.firmware_model import FirmwareModel, ModelLink


def _identity(words: dict[str, int]) -> Identity:
    return Identity(PROTOCOL_VERSION, FIRMWARE_VERSION, MAX_PAYLOAD, words["ID"], words["VERSION"],
                    tuple(words[f"CAPS{i}"] for i in range(4)))


def test_check_identity():
    small = mm.caps_words(CONFIGS["small"])
    check_identity(_identity(small), CONFIGS["small"])
    with pytest.raises(DeviceMismatch, match="other capabilities"):
        check_identity(_identity(small), CONFIGS["chip"])
    with pytest.raises(DeviceMismatch, match="core ID"):
        check_identity(_identity({**small, "ID": 0}), CONFIGS["small"])


def test_word_runs():
    writes = [(0, 1), (4, 2), (12, 3), (16, 4), (100, 5)]
    assert list(word_runs(writes)) == [(0, [1, 2]), (12, [3, 4]), (100, [5])]
    assert list(word_runs([])) == []


def test_infer_decodes_the_final_membranes():
    cfg = CONFIGS["small"]
    net = ChipNetwork([ChipLayer(np.ones((4, 2), np.int64), theta_high=2)], steps=2)
    image = build_image(net, cfg)

    def on_run(core: CoreModel) -> int:   # a "run" that leaves negative and positive membranes
        base = image.placement.layers[0].state_base
        core.state[base:base + 2] = [STATE_ENTRY.pack(v=-2, armed=1, fired=1), STATE_ENTRY.pack(v=7)]
        core.counts[:2] = [4, 1]
        return 42

    client = HostClient(ModelLink(FirmwareModel(CoreModel(cfg, on_run=on_run))), timeout=0.5)
    check_identity(client.identify(), cfg)
    load_image(client, image)
    result, counts, finals = infer(client, image, np.ones((2, 4), bool), [2])
    assert result.cycles == 42 and counts.tolist() == [4, 1]
    assert [f.tolist() for f in finals] == [[-2, 7]]
