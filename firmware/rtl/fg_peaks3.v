// fg_peaks3: SMLM peak finder on a W x H density-map stream of DW-bit codes, N pixels per beat (raster
// order, as the network's output after fg_upsample2_lanes: N = 4 x the camera's lanes).
// Out: one 64-bit word per localization, col | row << 16 | ox << 32 | oy << 40 | S << 48 (ox, oy signed
// F-bit fixed point, S the 3x3 sum of max(v - BASE, 0)), raster order, then an end-of-frame word
// (S = 0, the frame's number in bits [31:0]) with out_last. The bit-exact numpy reference and the rules
// are in fluorogate/quantize/peaks.py.
//
// It never stalls its input (the camera cannot wait): fg_window3 (N lanes) gives N windows per beat;
// stage 1: the N peak tests (strictly above the 4 earlier neighbours, >= the 4 later ones, above THRESH)
// and sums. A beat with a peak or the frame's end becomes one FIFO entry (its row, beat, frame-end flag
// and N lane slots {S, Sy, Sx}). The output side takes the head's records in lane order, then the end
// word, one per clock, into a short pipeline: the centroid quotients by restoring division (F+1
// quotient bits), the bias-correction TABLE (2**(F+1)+1 signed bytes, entry k for quotient k - 2**F),
// and an output FIFO (credit-counted, so the pipeline never stalls). One divider pair serves all N lanes
// (records leave one per clock anyway): 8 dividers at N = 4 cost 31% of the smlm core's LUTs. When the
// FIFO is full, a beat's records are
// dropped: `dropped` counts them, `overflow` is sticky (both cleared by `clear`). Frame ends are never
// dropped: one that finds the FIFO full is held in `pend` (saturating at 255) and enters first when
// there is room; records arriving meanwhile are dropped, so the order holds. DEPTH sizing: docs/tasks.md
// and `quantize.peaks.fifo_depth` (with a sink taking a word per clock, a dense line needs W/N (1 - 2/N)).
`timescale 1ns/1ps
module fg_peaks3 #(
    parameter integer W = 16,
    parameter integer H = 16,
    parameter integer DW = 8,
    parameter integer N = 1,
    parameter integer THRESH = 0,
    parameter integer BASE = 0,
    parameter integer F = 5,
    parameter [(2**(F+1)+1)*8-1:0] TABLE = 0,
    parameter integer DEPTH = 16
) (
    input  wire          clk,
    input  wire          rst,
    input  wire [N*DW-1:0] in_data,
    input  wire          in_valid,
    output wire          in_ready,
    output wire [63:0]   out_data,
    output wire          out_valid,
    input  wire          out_ready,
    output wire          out_last,
    input  wire          clear,
    output reg           overflow,
    output reg  [31:0]   dropped
);
    localparam integer WB = W / N;
    localparam integer SW = DW + 4;        // |sums| <= 9 (2**DW - 1)
    localparam integer NW = SW + F + 2;    // numerator 2 |Sy| 2**F + S
    localparam integer RW = 3 * SW + 2;    // a lane's slot: {S, Sy, Sx}
    localparam integer EW = 1 + N + 32 + N * RW;  // entry: {eof, peak mask, row, beat, slots}
    localparam integer ODEPTH = 8;         // output FIFO: the pipeline after the pick (4) and margin

    wire win_valid;
    wire [N*9*DW-1:0] win;
    fg_window3 #(.W(W), .H(H), .DW(DW), .N(N)) window (
        .clk(clk), .rst(rst), .in_data(in_data), .in_valid(in_valid), .in_ready(in_ready),
        .credit_ok(1'b1), .emit_fire(), .out_valid(win_valid), .out_win(win));

    // Window beats arrive in raster order: count them (c in beats).
    reg [15:0] r, c;
    always @(posedge clk) begin
        if (rst) begin
            r <= 0; c <= 0;
        end else if (win_valid) begin
            c <= (c == WB - 1) ? 16'd0 : c + 16'd1;
            r <= (c == WB - 1) ? ((r == H - 1) ? 16'd0 : r + 16'd1) : r;
        end
    end

    reg s1_valid, s1_eof;
    reg [15:0] s1_r, s1_c;
    reg [N-1:0] s1_peak;
    wire [N*RW-1:0] slots;
    genvar l, k;
    generate
        for (l = 0; l < N; l = l + 1) begin : lane
            // Stage 1: peak test and sums (taps t[k], k = 3 ky + kx; w[k] = max(t[k] - BASE, 0)).
            wire [DW-1:0] t [0:8];
            wire [SW-1:0] w [0:8];
            for (k = 0; k < 9; k = k + 1) begin : taps
                assign t[k] = win[(9*l + k)*DW +: DW];
                assign w[k] = (t[k] > BASE) ? t[k] - BASE : {SW{1'b0}};
            end
            wire [DW-1:0] v = t[4];
            wire is_peak = v > THRESH && v > t[0] && v > t[1] && v > t[2] && v > t[3]
                           && v >= t[5] && v >= t[6] && v >= t[7] && v >= t[8];
            reg [SW-1:0] s1_s;
            reg signed [SW:0] s1_sy, s1_sx;
            always @(posedge clk) begin
                s1_peak[l] <= is_peak;
                s1_s <= w[0] + w[1] + w[2] + w[3] + w[4] + w[5] + w[6] + w[7] + w[8];
                s1_sy <= $signed({1'b0, w[6] + w[7] + w[8]}) - $signed({1'b0, w[0] + w[1] + w[2]});
                s1_sx <= $signed({1'b0, w[2] + w[5] + w[8]}) - $signed({1'b0, w[0] + w[3] + w[6]});
            end
            assign slots[l*RW +: RW] = {s1_s, s1_sy, s1_sx};
        end
    endgenerate
    always @(posedge clk) begin
        s1_valid <= !rst && win_valid;
        s1_eof <= r == H - 1 && c == WB - 1;
        s1_r <= r; s1_c <= c;
    end

    // Into the FIFO: the beat's entry when there is room and no frame end is pending, else a pending
    // frame end alone; records that do not enter are dropped.
    wire room;
    reg [7:0] pend;
    wire g_eof = s1_valid && s1_eof;
    wire g_recs = s1_valid && |s1_peak;
    wire [8:0] pend_n = pend + g_eof;
    wire push_group = room && pend == 0 && (g_recs || g_eof);
    wire push_end = room && !push_group && pend_n != 0;
    wire [EW-1:0] entry = push_group ? {s1_eof, s1_peak, s1_r, s1_c, slots} : {1'b1, {(EW-1){1'b0}}};
    integer m;
    reg [N:0] lost;  // records of this beat not entering
    always @(*) begin
        lost = 0;
        for (m = 0; m < N; m = m + 1) lost = lost + (g_recs && !push_group && s1_peak[m]);
    end
    always @(posedge clk) begin
        if (rst) begin
            pend <= 0; overflow <= 1'b0; dropped <= 0;
        end else begin
            pend <= push_group ? 8'd0 : (pend_n[8] ? 8'd255 : pend_n[7:0] - push_end);
            overflow <= !clear && (overflow || lost != 0);
            dropped <= clear ? 32'd0 : dropped + lost;
        end
    end

    // Out of the FIFO: the head's records in lane order (`done` marks lanes sent), then its frame end,
    // one per clock while the output FIFO has room for everything in the pipeline (`occ` < ODEPTH).
    wire [EW-1:0] head;
    wire head_valid, pop;
    generate
        if (DEPTH >= 64) begin : bram
            fg_fifo_bram #(.DW(EW), .DEPTH(DEPTH)) fifo (
                .clk(clk), .rst(rst), .in_data(entry), .in_valid(push_group || push_end), .in_ready(room),
                .out_data(head), .out_valid(head_valid), .out_ready(pop));
        end else begin : lut
            fg_fifo #(.DW(EW), .DEPTH(DEPTH)) fifo (
                .clk(clk), .rst(rst), .in_data(entry), .in_valid(push_group || push_end), .in_ready(room),
                .out_data(head), .out_valid(head_valid), .out_ready(pop));
        end
    endgenerate
    reg [N-1:0] done;
    reg [31:0] frame;
    reg [3:0] occ;
    reg credit_ok;  // occ < ODEPTH, registered
    wire [N-1:0] rest = head[EW-2 -: N] & ~done;
    wire [N-1:0] pick = rest & (~rest + 1'b1);  // lowest lane left
    wire [N-1:0] after = rest & ~pick;
    wire has_rec = rest != 0;
    wire h_eof = head[EW-1];
    reg [RW-1:0] slot;
    reg [15:0] col;
    always @(*) begin
        slot = 0;
        col = 0;
        for (m = 0; m < N; m = m + 1)
            if (pick[m]) begin
                slot = head[m*RW +: RW];
                col = head[N*RW +: 16] * N + m;
            end
    end
    wire take = head_valid && credit_ok;
    assign pop = take && (!has_rec || (after == 0 && !h_eof));
    wire out_pop = out_valid && out_ready;
    // Pipeline: p1 = the picked record (or end word), p2 = half the division (inside the dividers),
    // p3 = its quotients, then the table into the FIFO.
    reg p1_valid, p1_rec, p2_valid, p2_rec, p3_valid, p3_rec;
    reg [SW-1:0] p1_s, p2_s, p3_s;
    reg signed [SW:0] p1_sy, p1_sx;
    wire signed [F+1:0] p3_qy, p3_qx;
    reg [31:0] p1_pos, p2_pos, p3_pos;  // {row, col} of a record, the frame number of an end word
    fg_centroid_div #(.SW(SW), .F(F)) div_y (.clk(clk), .d(p1_sy), .s(p1_s), .q(p3_qy));
    fg_centroid_div #(.SW(SW), .F(F)) div_x (.clk(clk), .d(p1_sx), .s(p1_s), .q(p3_qx));
    always @(posedge clk) begin
        if (rst) begin
            done <= 0; frame <= 0; occ <= 0; credit_ok <= 1'b1;
        end else begin
            if (take) begin
                done <= pop ? {N{1'b0}} : done | pick;
                if (!has_rec) frame <= frame + 1;
            end
            occ <= occ + take - out_pop;
            credit_ok <= take && !out_pop ? occ < ODEPTH - 1 : out_pop || occ < ODEPTH;
        end
        p1_valid <= !rst && take;
        p1_rec <= has_rec;
        {p1_s, p1_sy, p1_sx} <= slot;
        p1_pos <= has_rec ? {head[N*RW + 16 +: 16], col} : frame;
        p2_valid <= !rst && p1_valid;
        {p2_rec, p2_s, p2_pos} <= {p1_rec, p1_s, p1_pos};
        p3_valid <= !rst && p2_valid;
        {p3_rec, p3_s, p3_pos} <= {p2_rec, p2_s, p2_pos};
    end
    wire [F+1:0] iy = p3_qy + (1 << F), ix = p3_qx + (1 << F);
    wire [15:0] s16 = p3_s;
    wire [63:0] word = p3_rec ? {s16, TABLE[iy*8 +: 8], TABLE[ix*8 +: 8], p3_pos} : {32'd0, p3_pos};
    fg_fifo #(.DW(65), .DEPTH(ODEPTH)) outq (
        .clk(clk), .rst(rst), .in_data({!p3_rec, word}), .in_valid(p3_valid), .in_ready(),
        .out_data({out_last, out_data}), .out_valid(out_valid), .out_ready(out_ready));
endmodule

// The centroid quotient q = sign(d) ((2 |d| 2**F + s) // (2 s)) by restoring division, in two registered
// stages (q is valid two clocks after d, s). A 3x3 moment never exceeds its sum (|d| <= s), so q <= 2**F:
// of the NW = SW + F + 2 steps of a full division only the last F + 1 can subtract, the remainder entering
// them is the numerator's top bits (< 2 s, SW + 1 bits), and only those F + 1 steps of SW + 3 bits are
// built (the full 19-step divider in one clock was the smlm design's critical path: 230 logic levels,
// 12.6 MHz on the ECP5). Stage 1 takes the first FA steps, stage 2 the rest.
module fg_centroid_div #(
    parameter integer SW = 12,
    parameter integer F = 5
) (
    input  wire                 clk,
    input  wire signed [SW:0]   d,
    input  wire [SW-1:0]        s,
    output reg  signed [F+1:0]  q
);
    localparam integer NW = SW + F + 2;
    localparam integer RW = SW + 1;        // a remainder, < 2 s
    localparam integer FA = (F + 2) / 2;   // steps in stage 1
    // One step: {quotient bit, next remainder} from remainder `rem` and the numerator's next bit.
    function [RW:0] step(input [RW-1:0] rem, input bit_in, input [SW-1:0] sv);
        reg [RW+1:0] trial;
        begin
            trial = {1'b0, rem, bit_in} - {2'b00, sv, 1'b0};
            step = trial[RW+1] ? {1'b0, rem[RW-2:0], bit_in} : {1'b1, trial[RW-1:0]};
        end
    endfunction

    wire [SW-1:0] mag = d < 0 ? -d : d;
    wire [NW-1:0] num = ({{(NW-SW){1'b0}}, mag} << (F + 1)) + s;
    integer k;
    reg [RW:0] st1, st2;
    reg [RW-1:0] r1, r2, a_rem;
    reg [F:0] q1, q2, a_q;
    reg [F:0] a_low;
    reg [SW-1:0] a_s;
    reg a_neg;
    always @(*) begin
        r1 = num[NW-1:F+1];
        q1 = 0;
        st1 = 0;
        for (k = F; k > F - FA; k = k - 1) begin
            st1 = step(r1, num[k], s);
            q1[k] = st1[RW];
            r1 = st1[RW-1:0];
        end
    end
    always @(posedge clk) begin
        a_rem <= r1; a_q <= q1; a_low <= num[F:0]; a_s <= s; a_neg <= d < 0;
    end
    always @(*) begin
        r2 = a_rem;
        q2 = a_q;
        st2 = 0;
        for (k = F - FA; k >= 0; k = k - 1) begin
            st2 = step(r2, a_low[k], a_s);
            q2[k] = st2[RW];
            r2 = st2[RW-1:0];
        end
    end
    always @(posedge clk) q <= a_neg ? -{1'b0, q2} : {1'b0, q2};
endmodule
