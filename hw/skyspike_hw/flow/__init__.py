"""The silicon flow of SkySpike: sky130 synthesis, static timing, area and power
(:mod:`.synth`, ``make synth``), gate-level simulation models (:mod:`.gls`), the OpenFrame
floorplan (:mod:`.floorplan` and :mod:`.fpdraw`, ``make floorplan``) and the OpenLane 2 run to
GDS (:mod:`.gds`, ``make gds``).

Everything here reads the PDK the way an open_pdks installation lays it out under
``$PDK_ROOT`` (:mod:`.pdk`)."""
