"""cocotb test of the SRAMMacro simulation model, run on its generated Verilog (toplevel ports
p0_*/p1_*/collision/clk/rst: the ``p0``/``p1`` interface members flattened as
``skyspike_hw.gen`` names them). Also holds the cycle reference model that test_sram.py uses.

Set SEED to reproduce a run; otherwise a random seed is chosen and printed.
"""

import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

INPUTS = ("p0_en", "p0_we", "p0_wmask", "p0_addr", "p0_wdata", "p1_en", "p1_addr")
OUTPUTS = ("p0_rdata", "p0_valid", "p1_data", "p1_valid", "collision")
#: The read data port of port 0 and of port 1.
RDATA = ("p0_rdata", "p1_data")
IDLE = dict(p0_en=0, p0_we=0, p0_wmask=0, p0_addr=0, p0_wdata=0, p1_en=0, p1_addr=0)


def init_word(i):
    """Known initial contents for the tests (the model's default is random 'power-up' data)."""
    return (i * 0x9E3779B1 + 0x1234567) & 0xFFFF_FFFF


class SRAMRef:
    """Cycle reference of the macro: per edge, the word each port must show in the next cycle
    (None: no valid data, the port must show garbage)."""

    def __init__(self, init):
        self.mem = list(init)
        self.collision = False

    def edge(self, c):
        write = c["p0_en"] and c["p0_we"]
        r0 = self.mem[c["p0_addr"]] if c["p0_en"] and not c["p0_we"] else None
        hit = write and c["p1_en"] and c["p0_addr"] == c["p1_addr"]
        r1 = self.mem[c["p1_addr"]] if c["p1_en"] and not hit else None
        self.collision |= bool(hit)
        if write:  # reads above saw the array before this edge's write
            old, new = self.mem[c["p0_addr"]], c["p0_wdata"]
            bits = sum(0xFF << 8 * b for b in range(4) if c["p0_wmask"] >> b & 1)
            self.mem[c["p0_addr"]] = (old & ~bits) | (new & bits)
        return r0, r1


def traffic(rng, depth, n, *, collide):
    """Random port activity; a few hot addresses make read-after-write and collisions common."""
    hot = rng.sample(range(depth), 6)

    def addr():
        return rng.choice(hot) if rng.random() < 0.6 else rng.randrange(depth)

    for _ in range(n):
        c = dict(p0_en=int(rng.random() < 0.7), p0_we=int(rng.random() < 0.5),
                 p0_wmask=rng.randrange(16), p0_addr=addr(), p0_wdata=rng.getrandbits(32),
                 p1_en=int(rng.random() < 0.7), p1_addr=addr())
        if not collide and c["p0_en"] and c["p0_we"] and c["p1_addr"] == c["p0_addr"]:
            c["p1_addr"] = (c["p1_addr"] + 1) % depth
        yield c


class Checker:
    """Compares what the DUT shows in the cycle after each edge with SRAMRef."""

    def __init__(self, ref):
        self.ref = ref
        self.errors = []
        self.garbage = 0    # cycles a port had no valid data
        self.lookalike = 0  # ... of which rdata equalled the last word read or the stored word
        self.last = [None, None]

    def check(self, cycle, c, exp, obs):
        for p in (0, 1):
            data, valid = obs[RDATA[p]], obs[f"p{p}_valid"]
            if exp[p] is None:
                self.garbage += 1
                self.lookalike += data in (self.last[p], self.ref.mem[c[f"p{p}_addr"]])
                if valid:
                    self.errors.append(f"cycle {cycle}: p{p}_valid high without a read")
            else:
                self.last[p] = exp[p]
                if not valid or data != exp[p]:
                    self.errors.append(f"cycle {cycle}: p{p} read {c[f'p{p}_addr']:#x}: "
                                       f"got {data:#010x} valid={valid}, want {exp[p]:#010x}")
        if obs["collision"] != self.ref.collision:
            self.errors.append(f"cycle {cycle}: collision={obs['collision']}, "
                               f"want {int(self.ref.collision)}")

    def assert_ok(self, seed):
        assert not self.errors, f"seed {seed}: {len(self.errors)} errors:\n" + \
            "\n".join(self.errors[:20])
        # Garbage must not look like data (an LFSR matches by chance with odds 2^-32).
        assert self.lookalike <= self.garbage // 100, \
            f"seed {seed}: rdata looked valid in {self.lookalike}/{self.garbage} garbage cycles"


# --- cocotb side --------------------------------------------------------------------------------

def _seed():
    seed = int(os.environ["SEED"]) if os.environ.get("SEED") else random.randrange(2**32)
    print(f"tb_sram: SEED={seed}")
    return seed


_REF = {}  # the simulated memory persists across cocotb tests, so its reference does too


async def _setup(dut):
    depth = 1 << len(dut.p0_addr)
    _REF.setdefault(depth, SRAMRef([init_word(i) for i in range(depth)]))
    Clock(dut.clk, 10, unit="ns").start()  # cocotb stops a test's tasks, clocks too, at its end
    await _reset(dut)
    return depth, _REF[depth]


async def _reset(dut):
    # Inputs change on falling edges; outputs are sampled there too (mid-cycle, after the edge).
    await FallingEdge(dut.clk)
    for k, v in IDLE.items():
        getattr(dut, k).value = v
    dut.rst.value = 1
    await FallingEdge(dut.clk)
    dut.rst.value = 0


async def _cycle(dut, c):
    for k in INPUTS:
        getattr(dut, k).value = c[k]
    await FallingEdge(dut.clk)
    return {k: int(getattr(dut, k).value) for k in OUTPUTS}


@cocotb.test()
async def random_traffic(dut):
    """Random reads/writes on both ports without collisions: data, latency window, garbage."""
    seed = _seed()
    depth, ref = await _setup(dut)
    ref.collision = False
    rng, chk = random.Random(seed), Checker(ref)
    for i, c in enumerate(traffic(rng, depth, 3000, collide=False)):
        chk.check(i, c, ref.edge(c), await _cycle(dut, c))
    chk.assert_ok(seed)
    dut._log.info("%d garbage cycles, %d looked like data", chk.garbage, chk.lookalike)


@cocotb.test()
async def collision_flag(dut):
    """Short episodes separated by resets: the sticky flag rises exactly at the first collision."""
    seed = _seed()
    depth, ref = await _setup(dut)
    rng, chk, raised = random.Random(seed + 1), Checker(ref), 0  # not random_traffic's stream
    for episode in range(80):
        await _reset(dut)
        ref.collision = False
        for i, c in enumerate(traffic(rng, depth, 30, collide=True)):
            chk.check(f"{episode}.{i}", c, ref.edge(c), await _cycle(dut, c))
        raised += ref.collision
    chk.assert_ok(seed)
    assert 0 < raised < 80, f"seed {seed}: only {raised}/80 episodes collided; traffic too tame"
