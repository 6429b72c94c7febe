// fg_window3: 3x3 window generator with 'same' zero padding for a W x H frame of DW-bit pixels,
// N pixels (lanes) per beat, W a multiple of N.
//
// One "tick" per accepted input beat (i, j), j counting beats (WB = W/N per line). After the tick the
// registers hold the beat before (cp: N columns) and the last column of the beat before that (cl);
// with the new beat's first column that is every column the N windows of the previous beat need, so
// a tick emits the N windows centred on beat j-1 of row i-1, or for j == 0 on the last beat of row
// i-2: once WB+1 beats are in, every tick emits N windows, with no bubble per line, and an output beat
// never straddles two lines. Padding is not fed in as data: taps outside the frame are masked to zero
// from the centre position.
//
// End of frame: the last row and a beat still have to be emitted (the "tail"). If the next frame's
// first beat is there, the tail is emitted by the ticks of the next frame's first row (no gap between
// frames); if not, the tail is flushed by WB+1 ticks without input, so the last rows never wait for a
// next frame. Line buffers are synchronous-read memories, prefetched one tick ahead (block RAM).
//
// Handshake: `in_ready` does not depend on `in_valid`. `credit_ok` says the consumer can take one more
// beat of windows; `emit_fire` counts them at the tick, `out_valid`/`out_win` follow four cycles later.
// Window layout: lane l, tap t = 3*ky + kx (ky, kx in 0..2, top-left first) at
// out_win[(9*l + t)*DW +: DW].
`timescale 1ns/1ps
module fg_window3 #(
    parameter integer W = 16,
    parameter integer H = 16,
    parameter integer DW = 8,
    parameter integer N = 1
) (
    input  wire              clk,
    input  wire              rst,
    input  wire [N*DW-1:0]   in_data,
    input  wire              in_valid,
    output wire              in_ready,
    input  wire              credit_ok,
    output wire              emit_fire,
    output reg               out_valid,
    output reg [N*9*DW-1:0]  out_win
);
    localparam integer WB = W / N;
    localparam integer CW = $clog2(WB + 1);
    localparam integer RW = $clog2(H + 1);
    localparam integer CD = 3 * DW;  // one column: {row i, row i-1, row i-2}

    // Per lane (generate block `lane` below): line buffers lb1 (row i-1) and lb2 (row i-2), their reads
    // rd1, rd2 (lb1[j], lb2[j], prefetched one and two cycles late), and the lane's columns of beat j-1 in
    // cp; cl is the last column of beat j-2. All of them run three cycles late (see below).
    wire [N*DW-1:0] rd1, rd2;
    wire [N*CD-1:0] cp;
    wire [CD-1:0] cl;
    reg [RW-1:0] i;
    reg [CW-1:0] j;
    reg tail;                     // previous frame's last row still to emit
    reg flush;                    // emitting that tail without input

    // Everything the tick decides from (i, j, tail) alone is registered: `f` holds the flags of (i, j, tail).
    // A tick either restarts (constant flags) or advances to a state `a` whose flags come from comparisons
    // of the current registers with constants (a.i == c is i == c or i == c-1, chosen by registered flags),
    // so no adder sits before a comparator and the handshake (`tick`, late) only selects the new value:
    // 14.96 ns at 66.8 MHz on the 2048x2048 denoiser was tick -> i+1/j+1 carry chains -> comparators -> f.
    localparam integer F_MAIN = 0, F_TAIL = 1, F_EMITS = 2, F_TOP = 3, F_BOTTOM = 4, F_LEFT = 5,
                       F_RIGHT = 6, F_TAIL0 = 7, F_TAIL_END = 8, F_LAST_PX = 9, F_LAST_COL = 10, NF = 11;
    // Flags of a state given as i == 0, 1, 2, H-1; j == 0, 1, WB-1; tail. The edge masks only matter
    // where the state emits (out_valid marks those cycles).
    function [NF-1:0] flags(input i0, input i1, input i2, input il, input j0, input j1, input jl, input t);
        reg em, et;
        begin
            // Main windows: centre (i-1, j-1), or (i-2, last beat) for j == 0. Tail windows (the previous
            // frame's last row, and the last beat of the row before it): centre row H-1, or H-2 at (0, 0).
            em = (!i0 && !j0) || (j0 && !i0 && !i1);
            et = t && (i0 || (i1 && j0));
            flags = 0;
            flags[F_MAIN] = em;
            flags[F_TAIL] = et;
            flags[F_EMITS] = em || et;
            flags[F_TOP] = !et && (j0 ? i2 : i1);
            flags[F_BOTTOM] = et && ((i0 && !j0) || i1);
            flags[F_LEFT] = j1 || (j0 && WB == 1);
            flags[F_RIGHT] = j0;
            flags[F_TAIL0] = t && i0 && j0;
            flags[F_TAIL_END] = t && i1 && j0;
            flags[F_LAST_PX] = il && jl;
            flags[F_LAST_COL] = jl;
        end
    endfunction
    localparam [NF-1:0] F_START = flags(1'b1, 1'b0, 1'b0, 1'b0, 1'b1, 1'b0, WB == 1, 1'b0);  // (0, 0), no tail
    reg [NF-1:0] f;

    wire emits = f[F_EMITS];
    wire nodata = flush || (f[F_TAIL0] && !in_valid);
    assign in_ready = !flush && (!emits || credit_ok);
    wire tick = (nodata || in_valid) && (!emits || credit_ok);
    wire consume = tick && !nodata;
    assign emit_fire = tick && emits;

    // The advanced state `a` (any tick but a restart) and its flags. A frame's last pixel is always
    // consumed (nodata only occurs in rows 0 and 1), so a frame end needs no handshake term.
    wire last_col = f[F_LAST_COL], last_px = f[F_LAST_PX], tail_end = f[F_TAIL_END];
    wire restart = tail_end && nodata;  // tail flushed: the next frame starts from scratch
    wire [CW-1:0] j_adv = last_col ? 0 : j + 1;
    wire [RW-1:0] i_adv = last_px ? 0 : (last_col ? i + 1 : i);
    wire a_tail = last_px || (tail && !tail_end);
    wire a_i0 = last_px || (!last_col && i == 0);
    wire a_i1 = !last_px && (last_col ? i == 0 : i == 1);
    wire a_i2 = !last_px && (last_col ? i == 1 : i == 2);
    wire a_il = !last_px && (last_col ? i == H - 2 : i == H - 1);
    wire a_j1 = !last_col && f[F_RIGHT];
    wire a_jl = last_col ? WB == 1 : j == WB - 2;
    wire [NF-1:0] f_adv = flags(a_i0, a_i1, a_i2, a_il, last_col, a_j1, a_jl, a_tail);

    always @(posedge clk) begin
        if (rst) begin
            i <= 0; j <= 0; tail <= 1'b0; flush <= 1'b0; f <= F_START;
        end else if (tick) begin
            i <= restart ? {RW{1'b0}} : i_adv;
            j <= restart ? {CW{1'b0}} : j_adv;
            tail <= !restart && a_tail;
            f <= restart ? F_START : f_adv;
            flush <= nodata && !tail_end;
        end
    end

    // Line buffers and columns run as an exact replica of the tick sequence, delayed: every DP16KD pin
    // (address, enables, write data, read data) then connects to a flip-flop, never to logic. At 79.8 MHz
    // the critical path was tick/restart -> read-address mux -> a far DP16KD (6.3 ns of routing; the 16
    // block RAMs of an 8-channel stage spread over the die), and DP16KD read data has 5.8 ns clock-to-Q.
    // Cycle t+1 (stage 1): lb1 writes/reads what the tick in cycle t would have, from registered copies;
    // cycle t+2: lb2, its write data lb1's registered read data; cycle t+3: the new columns (registered)
    // shift into cp/cl and the window is built from {new column, cp, cl} with the masks of cycle t.
    // Values masked as padding are the only ones that differ from a direct design (the read at a restart
    // uses j_adv, not 0: that column belongs to row -1 of the next frame). `out_valid` follows `emit_fire`
    // four cycles later.
    // The replica's control registers are copied per lane (and the column enable per lane and row): at 4
    // lanes one t3 drove the clock enables of 960 column flip-flops, t1/t2 those of 256 read registers, m3
    // the resets of 288 window flip-flops and one address register the pins of every lane's block RAMs
    // (4-lane default denoiser, yosys). Each copy is its own `(* keep *)` process: yosys would otherwise
    // merge copies with the same input back into one register.
    reg e1, e2, e3;
    reg [N*DW-1:0] x1, x2, r1;
    reg [N*CD-1:0] cn3;
    reg [3:0] m1, m2;  // top, bottom, left, right
    wire [4*N-1:0] m3;  // per lane
    wire [(N+2)*CD-1:0] cols = {cn3[0 +: CD], cp, cl};  // column k-1 of the emitted beat at index k
    integer l, ky, kx, mc;
    reg keep;
    genvar g, gr;
    generate
        for (g = 0; g < N; g = g + 1) begin : lane
            reg t1 = 1'b0, c1 = 1'b0, t2 = 1'b0, c2 = 1'b0;
            reg [CW-1:0] j1, a1, j2, a2;
            reg [3:0] m3_l;
            reg [DW-1:0] lb1 [0:WB-1];
            reg [DW-1:0] lb2 [0:WB-1];
            reg [DW-1:0] rd1_l, rd2_l;
            (* keep *) always @(posedge clk) {t1, c1} <= rst ? 2'b00 : {tick, consume};
            (* keep *) always @(posedge clk) {t2, c2} <= rst ? 2'b00 : {t1, c1};
            (* keep *) always @(posedge clk) {j1, a1} <= {j, j_adv};
            (* keep *) always @(posedge clk) {j2, a2} <= {j1, a1};
            (* keep *) always @(posedge clk) m3_l <= m2;
            assign m3[4*g +: 4] = m3_l;
            assign rd1[g*DW +: DW] = rd1_l;
            assign rd2[g*DW +: DW] = rd2_l;
            always @(posedge clk) begin
                if (c1) lb1[j1] <= x1[g*DW +: DW];
                if (t1) rd1_l <= lb1[a1];
                if (c2) lb2[j2] <= r1[g*DW +: DW];
                if (t2) rd2_l <= lb2[a2];
            end
            for (gr = 0; gr < 3; gr = gr + 1) begin : row
                reg t3 = 1'b0;
                reg [DW-1:0] cp_r;
                (* keep *) always @(posedge clk) t3 <= !rst && t2;
                always @(posedge clk) if (t3) cp_r <= cn3[g*CD + gr*DW +: DW];
                assign cp[g*CD + gr*DW +: DW] = cp_r;
                if (g == N - 1) begin : last
                    reg [DW-1:0] cl_r;
                    always @(posedge clk) if (t3) cl_r <= cp_r;
                    assign cl[gr*DW +: DW] = cl_r;
                end
            end
        end
    endgenerate
    always @(posedge clk) begin
        e1 <= !rst && emit_fire;
        e2 <= !rst && e1;
        e3 <= !rst && e2;
        out_valid <= !rst && e3;
        x1 <= in_data; m1 <= {f[F_TOP], f[F_BOTTOM], f[F_LEFT], f[F_RIGHT]};
        x2 <= x1; m2 <= m1; r1 <= rd1;
        // The new columns: on a tick without data (flush) the input part only feeds masked taps.
        for (l = 0; l < N; l = l + 1)
            cn3[l*CD +: CD] <= {x2[l*DW +: DW], r1[l*DW +: DW], rd2[l*DW +: DW]};
        // A column's taps take the masks of one copy, the lane whose centre it is (the edge columns: the
        // nearest lane): lanes l and l+1 share columns, and taps with the same column and mask are one
        // register after yosys merges them (per-lane masks broke that: +6,200 flip-flops at 4 lanes).
        for (l = 0; l < N; l = l + 1)
            for (ky = 0; ky < 3; ky = ky + 1)
                for (kx = 0; kx < 3; kx = kx + 1) begin
                    mc = l + kx == 0 ? 0 : (l + kx - 1 > N - 1 ? N - 1 : l + kx - 1);
                    keep = !(ky == 0 && m3[4*mc + 3]) && !(ky == 2 && m3[4*mc + 2])
                           && !(kx == 0 && l == 0 && m3[4*mc + 1]) && !(kx == 2 && l == N - 1 && m3[4*mc]);
                    out_win[(9*l + 3*ky + kx)*DW +: DW] <= keep ? cols[(l + kx)*CD + ky*DW +: DW] : {DW{1'b0}};
                end
    end
endmodule
