// Yosys techmap (synth.ys, run once with -max_iter 1 just before ABC): a $_BUF_ before the D
// input of every D flop. ABC strashes the buffers away, but each flop's input becomes an output
// of its own that ABC must drive, so a net feeding many flops (a write-data bus into every word
// of a clock-gated register file) gets a buffer tree. Without it one gate drives them all: the
// small core had 3.6 ns slews and lost 25 MHz once its enable multiplexers were clock gates.
(* techmap_celltype = "sky130_fd_sc_hd__dfxtp_1" *)
module _flop_input_buffer (CLK, D, Q);
  input CLK, D;
  output Q;
  wire d;
  \$_BUF_ buffer (.A(D), .Y(d));
  sky130_fd_sc_hd__dfxtp_1 _TECHMAP_REPLACE_ (.CLK(CLK), .D(d), .Q(Q));
endmodule
