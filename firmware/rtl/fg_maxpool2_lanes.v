// fg_maxpool2_lanes: 2x2 max pooling, stride 2, that keeps the beat rate: N pixels (lanes) per input
// beat in (N a multiple of 4), N/4 per output beat out, CH channels of B bits per pixel. An input line
// pair (2 W/N beats) becomes one W/2-pixel output line of 2 W/N beats: beats stay 1:1, so a core fed
// one beat per clock keeps one beat per clock after the pool (the U-Net's rate down, mirror of
// fg_upsample2_lanes). W must be a multiple of N.
//
// Even lines: each beat's N/2 horizontal maxima go to a line buffer. Odd lines: with the buffered
// maxima of the line above they give N/2 results (two output beats) per input beat, twice the output
// rate, so they are written to a two-bank result buffer (bank = line-pair parity) and read out half a
// word per clock over the odd and the next even line. `ahead` counts result lines the writer is ahead
// of the reader: 0 = the reader follows word by word; 1 = free; 2 = an odd-line beat may only overwrite
// a word the reader has finished. Even lines never wait. Handshake as fg_window3 (`in_ready` does not
// depend on `in_valid` nor on `credit_ok`); output lane q of a word's half h is result h*N/4 + q.
`timescale 1ns/1ps
module fg_maxpool2_lanes #(
    parameter integer W = 16,
    parameter integer CH = 1,
    parameter integer B = 8,
    parameter integer SIGNED = 0,
    parameter integer N = 4
) (
    input  wire                  clk,
    input  wire                  rst,
    input  wire [N*CH*B-1:0]     in_data,
    input  wire                  in_valid,
    output wire                  in_ready,
    input  wire                  credit_ok,
    output wire                  emit_fire,
    output reg                   out_valid,
    output wire [N/4*CH*B-1:0]   out_data
);
    localparam integer PX = CH * B;          // one pixel
    localparam integer HW = N / 2 * PX;      // N/2 pooled values: one result word (two output beats)
    localparam integer WB = W / N;           // input beats per line = result words per output line
    localparam integer KW = $clog2(WB + 1);
    localparam integer AW = $clog2(2 * WB + 1);

    reg [HW-1:0] lb [0:WB-1];                // even line's horizontal maxima
    reg [HW-1:0] ob [0:2*WB-1];              // results, two banks
    reg [HW-1:0] rd;                          // lb prefetched for the next beat
    reg [KW-1:0] j, wk, rk;
    reg odd, wbank, rhalf, rbank, qhalf;
    reg [HW-1:0] wq;                          // the word read: the memory's own output register
    reg [1:0] ahead;

    function [PX-1:0] pmax(input [PX-1:0] a, input [PX-1:0] b);
        integer c;
        reg [B:0] ea, eb;  // one extra bit: sign- or zero-extended, compared as signed
        begin
            for (c = 0; c < CH; c = c + 1) begin
                ea = {SIGNED ? a[c*B + B - 1] : 1'b0, a[c*B +: B]};
                eb = {SIGNED ? b[c*B + B - 1] : 1'b0, b[c*B +: B]};
                pmax[c*B +: B] = ($signed(ea) > $signed(eb)) ? a[c*B +: B] : b[c*B +: B];
            end
        end
    endfunction

    reg [HW-1:0] h, v;
    integer q;
    always @(*) begin
        for (q = 0; q < N / 2; q = q + 1) begin
            h[q*PX +: PX] = pmax(in_data[2*q*PX +: PX], in_data[(2*q + 1)*PX +: PX]);
            v[q*PX +: PX] = pmax(rd[q*PX +: PX], h[q*PX +: PX]);
        end
    end

    wire w_ok = !odd || ahead != 2 || wk < rk;
    assign in_ready = w_ok;
    wire take = in_valid && w_ok;
    wire eol = j == WB - 1;
    wire wrote = take && odd;
    wire w_eol = wrote && eol;
    wire avail = ahead != 0 || rk < wk;
    wire tick = credit_ok && avail;
    assign emit_fire = tick;
    wire r_word = tick && rhalf;              // the word's second half: the word is done
    wire r_eol = r_word && rk == WB - 1;
    wire [KW-1:0] jn = eol ? 0 : j + 1;
    wire [AW-1:0] waddr = wbank ? WB + wk : wk;
    wire [AW-1:0] raddr = rbank ? WB + rk : rk;
    assign out_data = qhalf ? wq[HW/2 +: HW/2] : wq[0 +: HW/2];  // after the read register: block RAM

    always @(posedge clk) begin
        out_valid <= 1'b0;
        if (take) begin
            if (!odd) lb[j] <= h;
            else ob[waddr] <= v;
            rd <= lb[jn];
        end
        if (tick) begin
            wq <= ob[raddr];
            qhalf <= rhalf;
        end
        if (rst) begin
            j <= 0; wk <= 0; rk <= 0; odd <= 1'b0; wbank <= 1'b0; rhalf <= 1'b0; rbank <= 1'b0; ahead <= 0;
        end else begin
            out_valid <= tick;
            if (take) j <= jn;
            if (take && eol) odd <= !odd;
            if (wrote) wk <= eol ? 0 : wk + 1;
            if (w_eol) wbank <= !wbank;
            if (tick) rhalf <= !rhalf;
            if (r_word) rk <= (rk == WB - 1) ? 0 : rk + 1;
            if (r_eol) rbank <= !rbank;
            ahead <= ahead + w_eol - r_eol;
        end
    end
endmodule
