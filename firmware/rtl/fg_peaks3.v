// fg_peaks3: SMLM peak finder on a W x H density-map stream of DW-bit codes, one pixel per beat.
// Out: one 64-bit word per localization, col | row << 16 | ox << 32 | oy << 40 | S << 48 (ox, oy signed
// F-bit fixed point, S the 3x3 sum of max(v - BASE, 0)), raster order, then an end-of-frame word 0 with
// out_last. The bit-exact numpy reference and the rules are in fluorogate/quantize/peaks.py.
//
// fg_window3 gives each pixel's 3x3 window (zero outside). Stage 1: the peak test (strictly above the
// 4 earlier neighbours, >= the 4 later ones, above THRESH) and the sums; stage 2: the centroid
// quotients by restoring division (F+1 quotient bits); stage 3: the bias-correction TABLE (2**(F+1)+1
// signed bytes, entry k for quotient k - 2**F) and the word. Only peaks and frame ends enter the FIFO
// (an entry = record and/or end-of-frame), so the credit to fg_window3 reserves one slot per window in
// flight. An entry holding both is sent as two words.
`timescale 1ns/1ps
module fg_peaks3 #(
    parameter integer W = 16,
    parameter integer H = 16,
    parameter integer DW = 8,
    parameter integer THRESH = 0,
    parameter integer BASE = 0,
    parameter integer F = 5,
    parameter [(2**(F+1)+1)*8-1:0] TABLE = 0,
    parameter integer DEPTH = 16
) (
    input  wire          clk,
    input  wire          rst,
    input  wire [DW-1:0] in_data,
    input  wire          in_valid,
    output wire          in_ready,
    output wire [63:0]   out_data,
    output wire          out_valid,
    input  wire          out_ready,
    output wire          out_last
);
    localparam integer SW = DW + 4;        // |sums| <= 9 (2**DW - 1)
    localparam integer NW = SW + F + 2;    // numerator 2 |Sy| 2**F + S
    localparam integer INFLIGHT = 6;       // emit_fire -> FIFO push: 2 (window) + 3 stages, plus one
    localparam integer CNTW = $clog2(DEPTH + 1);

    wire emit_fire, win_valid;
    wire [9*DW-1:0] win;
    reg [CNTW-1:0] count;
    wire credit_ok = count + INFLIGHT < DEPTH;
    fg_window3 #(.W(W), .H(H), .DW(DW), .N(1)) window (
        .clk(clk), .rst(rst), .in_data(in_data), .in_valid(in_valid), .in_ready(in_ready),
        .credit_ok(credit_ok), .emit_fire(emit_fire), .out_valid(win_valid), .out_win(win));

    // Window centres arrive in raster order: count them.
    reg [15:0] r, c;
    always @(posedge clk) begin
        if (rst) begin
            r <= 0; c <= 0;
        end else if (win_valid) begin
            c <= (c == W - 1) ? 16'd0 : c + 16'd1;
            r <= (c == W - 1) ? ((r == H - 1) ? 16'd0 : r + 16'd1) : r;
        end
    end

    // Stage 1: peak test and sums (taps t[k], k = 3 ky + kx; w[k] = max(t[k] - BASE, 0)).
    wire [DW-1:0] t [0:8];
    wire [SW-1:0] w [0:8];
    genvar k;
    generate
        for (k = 0; k < 9; k = k + 1) begin : taps
            assign t[k] = win[k*DW +: DW];
            assign w[k] = (t[k] > BASE) ? t[k] - BASE : {SW{1'b0}};
        end
    endgenerate
    wire [DW-1:0] v = t[4];
    wire is_peak = v > THRESH && v > t[0] && v > t[1] && v > t[2] && v > t[3]
                   && v >= t[5] && v >= t[6] && v >= t[7] && v >= t[8];
    reg s1_valid, s1_peak, s1_eof;
    reg [15:0] s1_r, s1_c;
    reg [SW-1:0] s1_s;
    reg signed [SW:0] s1_sy, s1_sx;
    always @(posedge clk) begin
        s1_valid <= !rst && win_valid;
        s1_peak <= is_peak;
        s1_eof <= r == H - 1 && c == W - 1;
        s1_r <= r; s1_c <= c;
        s1_s <= w[0] + w[1] + w[2] + w[3] + w[4] + w[5] + w[6] + w[7] + w[8];
        s1_sy <= $signed({1'b0, w[6] + w[7] + w[8]}) - $signed({1'b0, w[0] + w[1] + w[2]});
        s1_sx <= $signed({1'b0, w[2] + w[5] + w[8]}) - $signed({1'b0, w[0] + w[3] + w[6]});
    end

    // Stage 2: q = sign(d) ((2 |d| 2**F + S) // (2 S)), |q| <= 2**F.
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
    reg s2_valid, s2_peak, s2_eof;
    reg [15:0] s2_r, s2_c;
    reg [SW-1:0] s2_s;
    reg signed [F+1:0] s2_qy, s2_qx;
    always @(posedge clk) begin
        s2_valid <= !rst && s1_valid;
        {s2_peak, s2_eof, s2_r, s2_c, s2_s} <= {s1_peak, s1_eof, s1_r, s1_c, s1_s};
        s2_qy <= quotient(s1_sy, s1_s);
        s2_qx <= quotient(s1_sx, s1_s);
    end

    // Stage 3: the table and the FIFO entry {eof, record?, word}.
    wire [F+1:0] iy = s2_qy + (1 << F), ix = s2_qx + (1 << F);
    wire [7:0] oy = TABLE[iy*8 +: 8], ox = TABLE[ix*8 +: 8];
    wire [15:0] s16 = s2_s;
    wire push = s2_valid && (s2_peak || s2_eof);
    wire [65:0] entry = {s2_eof, s2_peak, s16, oy, ox, s2_r, s2_c};
    wire [65:0] head;
    wire head_valid, fifo_ready;
    reg sent_rec;  // the record of an entry that also ends the frame is out; the end word is next
    wire rec_now = head[64] && !sent_rec;
    wire pop = head_valid && out_ready && !(rec_now && head[65]);
    fg_fifo #(.DW(66), .DEPTH(DEPTH)) fifo (
        .clk(clk), .rst(rst), .in_data(entry), .in_valid(push), .in_ready(fifo_ready),
        .out_data(head), .out_valid(head_valid), .out_ready(pop));
    always @(posedge clk) begin
        if (rst) begin
            count <= 0; sent_rec <= 1'b0;
        end else begin
            count <= count + push - pop;
            if (head_valid && out_ready) sent_rec <= rec_now && head[65];
        end
    end
    assign out_valid = head_valid;
    assign out_data = rec_now ? head[63:0] : 64'd0;
    assign out_last = !rec_now;
endmodule
