// Kogge-Stone carry lookahead for Yosys' $lcu cells (every adder, subtractor and comparator
// that `alumacc` makes): log2(WIDTH) levels instead of the WIDTH-long ripple of Yosys'
// default `_90_lcu`. Debian's Yosys 0.23 does not ship `+/choices/kogge-stone.v`, so this is
// the same textbook structure, written here. Used by synth.ys: techmap tries `_80_` before
// `_90_`. Without it the chip's critical path was a 28-cell maj3 carry chain.
(* techmap_celltype = "$lcu" *)
module _80_lcu_kogge_stone (P, G, CI, CO);
  parameter WIDTH = 2;
  (* force_downto *) input [WIDTH-1:0] P, G;
  input CI;
  (* force_downto *) output [WIDTH-1:0] CO;
  integer i, j;
  (* force_downto *) reg [WIDTH-1:0] p, g;
  always @* begin
    p = P;
    g = G;
    g[0] = g[0] | (p[0] & CI);
    for (i = 0; (1 << i) < WIDTH; i = i + 1)
      for (j = WIDTH - 1; j >= (1 << i); j = j - 1) begin
        g[j] = g[j] | (p[j] & g[j - (1 << i)]);
        p[j] = p[j] & p[j - (1 << i)];
      end
  end
  assign CO = g;
endmodule
