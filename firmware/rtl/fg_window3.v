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
// beat of windows; `emit_fire` counts them at the tick, `out_valid`/`out_win` follow one cycle later.
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

    reg [N*DW-1:0] lb1 [0:WB-1];  // row i-1
    reg [N*DW-1:0] lb2 [0:WB-1];  // row i-2
    reg [N*DW-1:0] rd1, rd2;      // lb1[j], lb2[j], prefetched
    reg [CD-1:0] cl;              // last column of beat j-2
    reg [N*CD-1:0] cp;            // the N columns of beat j-1
    reg [RW-1:0] i;
    reg [CW-1:0] j;
    reg tail;                     // previous frame's last row still to emit
    reg flush;                    // emitting that tail without input

    // Everything the tick decides from (i, j, tail) alone is registered: `f` holds flags(i, j, tail),
    // updated with the counters from their next values. The handshake (in_ready, tick) then sits one
    // gate level after flip-flops instead of behind the counters' comparators (the 2048x2048 denoiser
    // met 59 MHz with this logic combinational: j -> emit_main -> in_ready -> the front end's state).
    localparam integer F_MAIN = 0, F_TAIL = 1, F_EMITS = 2, F_TOP = 3, F_BOTTOM = 4, F_LEFT = 5,
                       F_RIGHT = 6, F_TAIL0 = 7, F_TAIL_END = 8, F_LAST_PX = 9, F_LAST_COL = 10, NF = 11;
    function [NF-1:0] flags(input [RW-1:0] fi, input [CW-1:0] fj, input ft);
        reg em, et;
        reg [RW-1:0] fr;
        begin
            // Which windows the tick at (i, j) emits, and their centre row r; the centre beat is
            // c = j - 1, or WB - 1 for j == 0.
            em = (fi >= 1 && fj >= 1) || (fj == 0 && fi >= 2);
            et = ft && (fi == 0 || (fi == 1 && fj == 0));
            fr = et ? ((fi == 0 && fj != 0) || fi == 1 ? H - 1 : H - 2) : (fj == 0 ? fi - 2 : fi - 1);
            flags = 0;
            flags[F_MAIN] = em;
            flags[F_TAIL] = et;
            flags[F_EMITS] = em || et;
            flags[F_TOP] = fr == 0;
            flags[F_BOTTOM] = fr == H - 1;
            flags[F_LEFT] = fj == 1 || (fj == 0 && WB == 1);
            flags[F_RIGHT] = fj == 0;
            flags[F_TAIL0] = ft && fi == 0 && fj == 0;
            flags[F_TAIL_END] = ft && fi == 1 && fj == 0;
            flags[F_LAST_PX] = fi == H - 1 && fj == WB - 1;
            flags[F_LAST_COL] = fj == WB - 1;
        end
    endfunction
    reg [NF-1:0] f;

    wire emits = f[F_EMITS];
    wire nodata = flush || (f[F_TAIL0] && !in_valid);
    assign in_ready = !flush && (!emits || credit_ok);
    wire tick = (nodata || in_valid) && (!emits || credit_ok);
    wire consume = tick && !nodata;
    assign emit_fire = tick && emits;
    wire top = f[F_TOP], bottom = f[F_BOTTOM], left = f[F_LEFT], right = f[F_RIGHT];

    wire [N*DW-1:0] x = nodata ? {N*DW{1'b0}} : in_data;
    wire [N*CD-1:0] cnew;
    genvar g;
    generate
        for (g = 0; g < N; g = g + 1) begin : col
            assign cnew[g*CD +: CD] = {x[g*DW +: DW], rd1[g*DW +: DW], rd2[g*DW +: DW]};
        end
    endgenerate
    wire [(N+2)*CD-1:0] cols = {cnew[0 +: CD], cp, cl};  // column k-1 of the emitted beat at index k

    // Next state.
    wire tail_end = f[F_TAIL_END];
    wire frame_end = consume && f[F_LAST_PX];
    wire restart = tail_end && nodata;  // tail flushed: the next frame starts from scratch
    wire [CW-1:0] j_after = (restart || f[F_LAST_COL]) ? 0 : j + 1;
    wire [RW-1:0] i_after = (restart || frame_end) ? 0 : (f[F_LAST_COL] ? i + 1 : i);
    wire tail_after = frame_end || (tail && !tail_end);

    integer l, ky, kx;
    reg keep;
    // The window register loads every cycle, without an enable: the kernel behind it is free-running and
    // `out_valid` says which cycles count. That keeps `tick` (a handshake, so it arrives late) off the
    // N*9*DW window flip-flops: on the 2048x2048 denoiser that enable net was the critical path (62.9 MHz).
    always @(posedge clk) begin
        out_valid <= !rst && emit_fire;
        for (l = 0; l < N; l = l + 1)
            for (ky = 0; ky < 3; ky = ky + 1)
                for (kx = 0; kx < 3; kx = kx + 1) begin
                    keep = !(ky == 0 && top) && !(ky == 2 && bottom)
                           && !(kx == 0 && l == 0 && left) && !(kx == 2 && l == N - 1 && right);
                    out_win[(9*l + 3*ky + kx)*DW +: DW] <= keep ? cols[(l + kx)*CD + ky*DW +: DW] : {DW{1'b0}};
                end
    end

    always @(posedge clk) begin
        if (rst) begin
            i <= 0; j <= 0; tail <= 1'b0; flush <= 1'b0; f <= flags(0, 0, 1'b0);
        end else if (tick) begin
            if (consume) begin
                lb1[j] <= x;
                lb2[j] <= rd1;
            end
            rd1 <= lb1[j_after];
            rd2 <= lb2[j_after];
            cl <= cp[(N-1)*CD +: CD];
            cp <= cnew;
            i <= i_after;
            j <= j_after;
            tail <= tail_after;
            f <= flags(i_after, j_after, tail_after);
            flush <= nodata && !tail_end;
        end
    end
endmodule
