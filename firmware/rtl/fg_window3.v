// fg_window3: 3x3 window generator with 'same' zero padding for a W x H frame of DW-bit pixels.
//
// One "tick" per accepted input pixel. After the tick for input (i, j) the window holds columns
// j-2..j of rows i-2..i; it emits the window centred on (i-1, j-1), or for j == 0 the one centred on
// (i-2, W-1), so every tick emits one window once the first W+1 pixels are in. Padding is not fed in
// as data: taps outside the frame are masked to zero from the centre position.
//
// End of frame: the last row and a pixel still have to be emitted (the "tail"). If the next frame's
// first pixel is there, the tail is emitted by the ticks of the next frame's first row (no gap between
// frames); if not, the tail is flushed by W+1 ticks without input, so the last rows never wait for a
// next frame. Line buffers are synchronous-read memories (block RAM on an FPGA).
//
// Handshake: `in_ready` does not depend on `in_valid`. `credit_ok` says the consumer can take one more
// window; `emit_fire` counts windows at the tick, `out_valid`/`out_win` follow one cycle later.
// Window layout: tap t = 3*ky + kx (ky, kx in 0..2, top-left first) at out_win[t*DW +: DW].
`timescale 1ns/1ps
module fg_window3 #(
    parameter integer W = 16,
    parameter integer H = 16,
    parameter integer DW = 8
) (
    input  wire            clk,
    input  wire            rst,
    input  wire [DW-1:0]   in_data,
    input  wire            in_valid,
    output wire            in_ready,
    input  wire            credit_ok,
    output wire            emit_fire,
    output reg             out_valid,
    output reg [9*DW-1:0]  out_win
);
    localparam integer CW = $clog2(W + 1);
    localparam integer RW = $clog2(H + 1);

    reg [DW-1:0] lb1 [0:W-1];  // row i-1
    reg [DW-1:0] lb2 [0:W-1];  // row i-2
    reg [DW-1:0] rd1, rd2;     // lb1[j], lb2[j], prefetched
    reg [3*DW-1:0] c1, c2;     // window columns j-2, j-1 after the last tick: {row i, row i-1, row i-2}
    reg [RW-1:0] i;
    reg [CW-1:0] j;
    reg tail;                  // previous frame's last row still to emit
    reg flush;                 // emitting that tail without input

    // Which window the tick at (i, j) emits, and its centre (r, c).
    wire emit_main = (i >= 1 && j >= 1) || (j == 0 && i >= 2);
    wire emit_tail = tail && (i == 0 || (i == 1 && j == 0));
    wire emits = emit_main || emit_tail;
    wire nodata = flush || (tail && i == 0 && j == 0 && !in_valid);
    assign in_ready = !flush && (!emits || credit_ok);
    wire tick = (nodata || in_valid) && (!emits || credit_ok);
    wire consume = tick && !nodata;
    assign emit_fire = tick && emits;

    wire [RW-1:0] r = emit_tail ? ((i == 0 && j != 0) || i == 1 ? H - 1 : H - 2)
                                : (j == 0 ? i - 2 : i - 1);
    wire [CW-1:0] c = (j == 0) ? W - 1 : j - 1;
    wire top = (r == 0), bottom = (r == H - 1), left = (c == 0), right = (c == W - 1);

    wire [DW-1:0] x = nodata ? {DW{1'b0}} : in_data;
    wire [3*DW-1:0] cnew = {x, rd1, rd2};
    // Next state.
    wire tail_end = tail && i == 1 && j == 0;
    wire frame_end = consume && i == H - 1 && j == W - 1;
    wire restart = tail_end && nodata;  // tail flushed: the next frame starts from scratch
    wire [CW-1:0] j_after = (restart || j == W - 1) ? 0 : j + 1;
    wire [RW-1:0] i_after = (restart || frame_end) ? 0 : (j == W - 1 ? i + 1 : i);

    // Masked window from columns (c1, c2, cnew), rows 0 (top) .. 2 (bottom).
    function [DW-1:0] tap(input [3*DW-1:0] col, input integer ky, input mask_col);
        reg keep;
        begin
            keep = !mask_col && !(ky == 0 && top) && !(ky == 2 && bottom);
            tap = keep ? col[ky*DW +: DW] : {DW{1'b0}};
        end
    endfunction

    integer ky;
    always @(posedge clk) begin
        out_valid <= 1'b0;
        if (rst) begin
            i <= 0; j <= 0; tail <= 1'b0; flush <= 1'b0;
        end else if (tick) begin
            if (consume) begin
                lb1[j] <= x;
                lb2[j] <= rd1;
            end
            rd1 <= lb1[j_after];
            rd2 <= lb2[j_after];
            c1 <= c2;
            c2 <= cnew;
            out_valid <= emits;
            for (ky = 0; ky < 3; ky = ky + 1) begin
                out_win[(3*ky + 0)*DW +: DW] <= tap(c1, ky, left);
                out_win[(3*ky + 1)*DW +: DW] <= tap(c2, ky, 1'b0);
                out_win[(3*ky + 2)*DW +: DW] <= tap(cnew, ky, right);
            end
            i <= i_after;
            j <= j_after;
            tail <= frame_end || (tail && !tail_end);
            flush <= nodata && !tail_end;
        end
    end
endmodule
