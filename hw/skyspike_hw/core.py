"""SkySpike core: the engine, its SRAM macros and a Wishbone (B4 classic) slave on the
control side. The memory map is ``skyspike.spec.memmap`` (docs/memory-map.md)."""
from amaranth import Array, Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from skyspike.spec import memmap as mm
from skyspike.spec.config import CoreConfig, log2

from .descriptor import STORED_WORDS
from .engine import Engine
from .sram import SRAMMacro

#: Word-address bits of the bus: the map spans 0x0 .. 0x3FFFF (bytes).
ADR_BITS = 16


class SNNCore(wiring.Component):
    """The SNN core with its weight and input SRAM macros.

    Parameters
    ----------
    cfg : CoreConfig
        Maximum sizes (``skyspike.spec.config.CONFIGS``).
    sim_model : bool
        SRAMs as cycle-exact simulation models (True) or black-box macro instances (False).

    Attributes
    ----------
    wb_cyc, wb_stb, wb_we : In(1)
        Wishbone cycle, strobe and write enable (a Caravel user project's wbs_* roles).
    wb_sel : In(4)
        Byte selects of a write.
    wb_adr : In(16)
        Word address (byte address >> 2).
    wb_dat_w : In(32) ; wb_dat_r : Out(32)
        Write and read data.
    wb_ack : Out(1)
        One cycle after the strobe, for every access (reads take one SRAM cycle).
    irq : Out(1)
        The last inference finished.
    dbg_* : Out
        The engine's update-group trace (see :class:`Engine`), for verification.
    """

    def __init__(self, cfg: CoreConfig, *, sim_model: bool = True):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        mm.check_fits(cfg)
        self.cfg = cfg
        self.sim_model = sim_model
        U = cfg.update_lanes
        super().__init__({
            "wb_cyc": In(1), "wb_stb": In(1), "wb_we": In(1), "wb_sel": In(4),
            "wb_adr": In(ADR_BITS), "wb_dat_w": In(32), "wb_dat_r": Out(32), "wb_ack": Out(1),
            "irq": Out(1),
            "dbg_valid": Out(1), "dbg_step": Out(8), "dbg_layer": Out(8), "dbg_neuron": Out(16),
            "dbg_lanes": Out(U), "dbg_spikes": Out(U), "dbg_v": Out(16 * U),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.submodules.engine = eng = Engine(cfg)
        for name in ("dbg_valid", "dbg_step", "dbg_layer", "dbg_neuron", "dbg_lanes", "dbg_spikes", "dbg_v"):
            m.d.comb += getattr(self, name).eq(getattr(eng, name))

        # -- bus request decode (byte address = adr << 2) ---------------------------------
        req = self.wb_cyc & self.wb_stb & ~self.wb_ack
        byte_adr = Cat(Signal(2), self.wb_adr)
        wdata = self.wb_dat_w

        def in_region(base, size):
            return (byte_adr >= base) & (byte_adr < base + size)

        regions = mm.region_sizes(cfg)
        sel = {name: in_region(*span) for name, span in regions.items()}
        offset = {name: (byte_adr - span[0]) >> 2 for name, span in regions.items()}
        write = req & self.wb_we & ~eng.busy  # memories and tables are frozen while running

        # -- SRAM macros: port 0 = bus, port 1 = engine -------------------------------------
        def bank_set(prefix, count, depth, ports, region):
            rdata = []
            for j in range(count):
                bank = SRAMMacro(depth, sim_model=self.sim_model)
                m.submodules[f"{prefix}{j}"] = bank
                hit = sel[region] & (offset[region] >> log2(depth) == j)
                m.d.comb += [
                    bank.p0_en.eq(req & hit & (~self.wb_we | ~eng.busy)), bank.p0_we.eq(self.wb_we),
                    bank.p0_wmask.eq(self.wb_sel), bank.p0_addr.eq(offset[region][:log2(depth)]),
                    bank.p0_wdata.eq(wdata),
                    bank.p1_en.eq(ports[j].en), bank.p1_addr.eq(ports[j].addr), ports[j].data.eq(bank.p1_rdata),
                ]
                rdata.append(bank.p0_rdata)
            return Array(rdata)

        w_rd = bank_set("wbank", cfg.banks, cfg.bank_depth, eng.w, "weights")
        in_rd = bank_set("ibank", cfg.input_banks, cfg.input_depth, eng.inp, "inputs")

        # -- registers and tables -------------------------------------------------------------
        n_layers = Signal(8)
        steps = Signal(8)
        irq_en = Signal()
        desc = [[Signal(32, name=f"desc{ly}_{w}") for w in range(STORED_WORDS)] for ly in range(cfg.max_layers)]
        m.d.comb += [eng.n_layers.eq(n_layers), eng.steps.eq(steps),
                     eng.desc.eq(Cat(*Array([Cat(*ws) for ws in desc])[eng.desc_index])),
                     self.irq.eq(eng.done & irq_en)]

        def masked(old):
            return Cat(*[Mux(self.wb_sel[b], wdata[8 * b: 8 * b + 8], old[8 * b: 8 * b + 8]) for b in range(4)])

        start = Signal()
        abort = Signal()
        m.d.comb += [eng.start.eq(start), eng.abort.eq(abort)]
        m.d.sync += [start.eq(0), abort.eq(0)]
        bus_error = Signal()      # sticky: unmapped address, or a write to a read-only location
        write_refused = Signal()  # sticky: a write that would disturb the running inference
        bus_addr = Signal(32)
        clear_flags = Signal()
        with m.If(req & self.wb_we & sel["regs"]):
            with m.Switch(offset["regs"]):
                with m.Case(mm.REG["CTRL"] >> 2):
                    with m.If(self.wb_sel[0]):
                        m.d.sync += [start.eq(wdata[0] & ~eng.busy), abort.eq(wdata[1]), irq_en.eq(wdata[2])]
                        m.d.comb += clear_flags.eq(wdata[3] | wdata[1])
                with m.Case(mm.REG["NET"] >> 2):
                    with m.If(~eng.busy):
                        m.d.sync += Cat(n_layers, steps).eq(masked(Cat(n_layers, steps, Signal(16)))[:16])

        # Every access is acked; the ones that cannot be honoured are reported, never half-applied.
        reg_offsets = [r.offset >> 2 for r in mm.REGS]
        writable_regs = [r.offset >> 2 for r in mm.REGS if "w" in r.access]
        reg_known = Signal()
        reg_writable = Signal()
        with m.Switch(offset["regs"]):
            for off in reg_offsets:
                with m.Case(off):
                    m.d.comb += [reg_known.eq(1), reg_writable.eq(off in writable_regs)]
        mapped = Cat(sel[name] for name in sel if name != "regs").any() | (sel["regs"] & reg_known)
        read_only = sel["counts"] | sel["state"] | (sel["regs"] & ~reg_writable)
        frozen = sel["weights"] | sel["inputs"] | sel["descriptors"] | (sel["regs"] & (offset["regs"] == mm.REG["NET"] >> 2))
        bad = req & (~mapped | (self.wb_we & read_only))
        refused = req & self.wb_we & frozen & eng.busy
        with m.If(clear_flags):
            m.d.sync += [bus_error.eq(0), write_refused.eq(0)]
        with m.If(bad | refused):
            m.d.sync += bus_addr.eq(byte_adr)
        with m.If(bad):
            m.d.sync += bus_error.eq(1)
        with m.If(refused):
            m.d.sync += write_refused.eq(1)
        for ly, words in enumerate(desc):
            for w, reg in enumerate(words):
                with m.If(write & sel["descriptors"] & (offset["descriptors"] == ly * 8 + w)):
                    m.d.sync += reg.eq(masked(reg))

        # -- read data: registered selection, SRAM data arrives in the ack cycle ----------------
        reg_value = Signal(32)
        caps = {
            "ID": mm.CORE_ID, "VERSION": mm.CORE_VERSION,
            "CAPS0": cfg.banks | cfg.max_slots << 8 | cfg.update_lanes << 16 | cfg.max_layers << 24,
            "CAPS1": cfg.max_neurons | cfg.max_inputs << 16,
            "CAPS2": cfg.state_neurons | cfg.max_outputs << 16,
            "CAPS3": cfg.bank_depth | cfg.input_banks << 16 | (cfg.input_depth // 256) << 24,
        }
        with m.Switch(offset["regs"]):
            for name, value in caps.items():
                with m.Case(mm.REG[name] >> 2):
                    m.d.comb += reg_value.eq(value)
            with m.Case(mm.REG["STATUS"] >> 2):
                m.d.comb += reg_value.eq(Cat(eng.busy, eng.done, bus_error, write_refused, Signal(4),
                                             eng.error, eng.error_layer))
            with m.Case(mm.REG["BUS_ADDR"] >> 2):
                m.d.comb += reg_value.eq(bus_addr)
            with m.Case(mm.REG["NET"] >> 2):
                m.d.comb += reg_value.eq(Cat(n_layers, steps))
            with m.Case(mm.REG["CYCLES"] >> 2):
                m.d.comb += reg_value.eq(eng.cycles)
            with m.Case(mm.REG["CTRL"] >> 2):
                m.d.comb += reg_value.eq(irq_en << 2)
        desc_flat = Array([reg for words in desc for reg in words] + [0])
        desc_idx = offset["descriptors"]
        desc_value = Mux(desc_idx[:3] == 7, 0, desc_flat[(desc_idx >> 3) * STORED_WORDS + desc_idx[:3]])
        m.d.comb += [eng.state_index.eq(offset["state"]), eng.count_index.eq(offset["counts"])]
        state_word = eng.state_data  # V[15:0], armed[16], fired[17]

        kind = Signal(3)          # what the ack cycle returns: 0 none, 1 value, 2 weights, 3 inputs
        value_q = Signal(32)
        bank_q = Signal(range(max(cfg.banks, cfg.input_banks)))
        m.d.sync += self.wb_ack.eq(req)
        with m.If(req & ~self.wb_we):
            m.d.sync += [kind.eq(1), value_q.eq(0)]
            with m.If(sel["regs"]):
                m.d.sync += value_q.eq(reg_value)
            with m.Elif(sel["descriptors"]):
                m.d.sync += value_q.eq(desc_value)
            with m.Elif(sel["counts"]):
                m.d.sync += value_q.eq(eng.count_data)
            with m.Elif(sel["state"]):
                m.d.sync += value_q.eq(state_word)
            with m.Elif(sel["weights"]):
                m.d.sync += [kind.eq(2), bank_q.eq(offset["weights"] >> log2(cfg.bank_depth))]
            with m.Elif(sel["inputs"]):
                m.d.sync += [kind.eq(3), bank_q.eq(offset["inputs"] >> log2(cfg.input_depth))]
        with m.Switch(kind):
            with m.Case(1):
                m.d.comb += self.wb_dat_r.eq(value_q)
            with m.Case(2):
                m.d.comb += self.wb_dat_r.eq(w_rd[bank_q])
            with m.Case(3):
                m.d.comb += self.wb_dat_r.eq(in_rd[bank_q[:max(1, log2(cfg.input_banks))]])
        return m
