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
    localparam integer ODEPTH = 8;         // output FIFO: the pipeline after the pick (3) and margin

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

    // The output pipeline's divider: q = sign(d) ((2 |d| 2**F + S) // (2 S)), |q| <= 2**F.
    function [F+1:0] quotient(input signed [SW:0] d, input [SW-1:0] s);
        reg [NW-1:0] num, rem;
        reg [NW:0] trial;
        reg [F:0] q;
        integer k;
        begin
            num = ({{(NW-SW-1){1'b0}}, d < 0 ? -d : d} << (F + 1)) + s;
            rem = 0;
            q = 0;
            for (k = NW - 1; k >= 0; k = k - 1) begin
                trial = {rem, num[k]} - {s, 1'b0};
                if (!trial[NW]) begin
                    rem = trial[NW-1:0];
                    if (k <= F) q[k] = 1'b1;
                end else begin
                    rem = {rem[NW-2:0], num[k]};
                end
            end
            quotient = d < 0 ? -{1'b0, q} : {1'b0, q};
        end
    endfunction

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
    // Pipeline: p1 = the picked record (or end word), p2 = its quotients, then the table into the FIFO.
    reg p1_valid, p1_rec, p2_valid, p2_rec;
    reg [SW-1:0] p1_s, p2_s;
    reg signed [SW:0] p1_sy, p1_sx;
    reg signed [F+1:0] p2_qy, p2_qx;
    reg [31:0] p1_pos, p2_pos;  // {row, col} of a record, the frame number of an end word
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
        p2_qy <= quotient(p1_sy, p1_s);
        p2_qx <= quotient(p1_sx, p1_s);
    end
    wire [F+1:0] iy = p2_qy + (1 << F), ix = p2_qx + (1 << F);
    wire [15:0] s16 = p2_s;
    wire [63:0] word = p2_rec ? {s16, TABLE[iy*8 +: 8], TABLE[ix*8 +: 8], p2_pos} : {32'd0, p2_pos};
    fg_fifo #(.DW(65), .DEPTH(ODEPTH)) outq (
        .clk(clk), .rst(rst), .in_data({!p2_rec, word}), .in_valid(p2_valid), .in_ready(),
        .out_data({out_last, out_data}), .out_valid(out_valid), .out_ready(out_ready));
endmodule
