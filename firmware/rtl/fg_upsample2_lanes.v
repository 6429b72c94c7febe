// fg_upsample2_lanes: nearest-neighbour 2x upsampling that keeps the input rate: N pixels (lanes) per
// input beat in, 4N per output beat out. A W-pixel input line becomes two 2W-pixel output lines of
// W/(2N) beats each, i.e. W/N output beats per W/N input beats: one output beat per input beat, so a
// core fed one beat per clock stays at one beat per clock after the upsample (the stages after it run
// with 4N lanes). W must be a multiple of 2N.
//
// Two input beats form a "pair" (2N pixels = one output beat, each pixel doubled) that is written to a
// two-line ping-pong buffer (bank = input row parity). The reader walks each row's pairs twice (pass
// 0: the even output line, pass 1: the odd one). `ahead` counts rows the writer is ahead of the reader:
//   0: same row, the reader takes a pair once it is written (pass 0 follows the input);
//   1: the writer fills the other bank, the reader is free;
//   2: the writer is in the reader's bank: it may only overwrite pairs pass 1 has already read.
// In steady state a row's pass 0 trails its input and pass 1 runs while the next row arrives: the input
// never waits (in_ready falls only under downstream backpressure). Needs 2 lines of 2N*DW-bit words.
//
// Handshake as fg_window3: `in_ready` does not depend on `in_valid` (nor on `credit_ok`: writes emit
// nothing); `credit_ok` gates the emitting ticks, `emit_fire` counts them, out_valid/out_data follow one
// cycle later (synchronous-read memory: block RAM). Output lane q carries pair pixel q/2 (wiring after the
// read register, so the read register stays the memory's: a copy per lane before it maps to LUT RAM).
`timescale 1ns/1ps
module fg_upsample2_lanes #(
    parameter integer W = 16,
    parameter integer DW = 8,
    parameter integer N = 1
) (
    input  wire            clk,
    input  wire            rst,
    input  wire [N*DW-1:0] in_data,
    input  wire            in_valid,
    output wire            in_ready,
    input  wire            credit_ok,
    output wire            emit_fire,
    output reg             out_valid,
    output wire [4*N*DW-1:0] out_data
);
    localparam integer WB = W / N;   // input beats per line
    localparam integer P = WB / 2;   // pairs per line (= output beats per output line)
    localparam integer KW = $clog2(P + 1);
    localparam integer AW = $clog2(2 * P + 1);

    reg [2*N*DW-1:0] lb [0:2*P-1];
    reg [N*DW-1:0] hold;           // the pair's first beat
    reg [KW-1:0] wk, rk;           // writer's / reader's pair in the line
    reg whalf, wbank, rpass, rbank;
    reg [1:0] ahead;

    wire w_ok = ahead != 2 || (rpass && wk < rk);
    assign in_ready = w_ok;
    wire take = in_valid && w_ok;
    wire wrote = take && whalf;     // second beat: the pair is written
    wire w_eol = wrote && wk == P - 1;
    wire avail = ahead != 0 || rk < wk;
    wire tick = credit_ok && avail;
    assign emit_fire = tick;
    wire r_eol = tick && rk == P - 1;
    wire r_done = r_eol && rpass;   // the row's last read: its bank is free

    wire [AW-1:0] waddr = wbank ? P + wk : wk;
    wire [AW-1:0] raddr = rbank ? P + rk : rk;
    reg [2*N*DW-1:0] rd;  // the pair read: the memory's own output register (block RAM, not LUT RAM)

    genvar q;
    generate
        for (q = 0; q < 4 * N; q = q + 1) begin : dup
            assign out_data[q*DW +: DW] = rd[(q / 2)*DW +: DW];
        end
    endgenerate

    always @(posedge clk) begin
        out_valid <= 1'b0;
        if (take && !whalf) hold <= in_data;
        if (wrote) lb[waddr] <= {in_data, hold};
        if (tick) rd <= lb[raddr];
        if (rst) begin
            wk <= 0; rk <= 0; whalf <= 1'b0; wbank <= 1'b0; rpass <= 1'b0; rbank <= 1'b0; ahead <= 0;
        end else begin
            out_valid <= tick;
            if (take) whalf <= !whalf;
            if (wrote) wk <= w_eol ? 0 : wk + 1;
            if (w_eol) wbank <= !wbank;
            if (tick) rk <= r_eol ? 0 : rk + 1;
            if (r_eol) rpass <= !rpass;
            if (r_done) rbank <= !rbank;
            ahead <= ahead + w_eol - r_done;
        end
    end
endmodule
