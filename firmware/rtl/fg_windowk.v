// fg_windowk: K x K window generator (K odd, >= 3) with 'same' zero padding for a W x H frame of DW-bit
// pixels, N pixels (lanes) per beat, W a multiple of N. The 5x5 convs use it; fg_window3 is the 3x3 one
// (its flags are precomputed for timing closure on the 2048x2048 designs; this one computes them from
// the counters). Needs W >= K and H >= K (the generator checks).
//
// P = K/2 rows and columns of padding; a window reaches Q = ceil(P/N) beats left and right of its
// centre beat. One "tick" per accepted input beat (i, j), j counting beats (WB = W/N per line); the
// tick emits the N windows centred on beat j-Q of row i-P, or for j < Q on beat WB-Q+j of row i-P-1:
// once P lines and Q beats are in, every tick emits N windows, with no bubble per line.
//
// End of frame: the last P rows and Q beats still have to be emitted (the "tail"). If the next frame's
// first beat is there, the tail is emitted by the ticks of the next frame's first P rows (and Q beats);
// if not, it is flushed by P*WB + Q ticks without input, so the last rows never wait for a next frame.
// Rows above and below the frame and columns left and right of it are not fed in as data: those taps
// are masked to zero from the centre position, so the line buffers simply carry on across frames.
//
// Line buffers (K-1 of them, synchronous-read memories, prefetched one tick ahead: block RAM) form a
// cascade: line buffer g works in cycle t+g of a tick in cycle t, written with the row it read for the
// tick before, so every memory pin (address, enable, write data, read data) meets a flip-flop. The
// column of the tick (K rows of one beat) is assembled along the cascade (`pc`), the window from it
// and the 2Q beats before it in cycle t+K, and `out_valid`/`out_win` follow `emit_fire` K+1 cycles
// later.
//
// Handshake: `in_ready` does not depend on `in_valid`. `credit_ok` says the consumer can take one more
// beat of windows; `emit_fire` counts them at the tick.
// Window layout: lane l, tap t = K*ky + kx (ky, kx in 0..K-1, top-left first) at
// out_win[(K*K*l + t)*DW +: DW].
`timescale 1ns/1ps
module fg_windowk #(
    parameter integer K = 5,
    parameter integer W = 16,
    parameter integer H = 16,
    parameter integer DW = 8,
    parameter integer N = 1
) (
    input  wire               clk,
    input  wire               rst,
    input  wire [N*DW-1:0]    in_data,
    input  wire               in_valid,
    output wire               in_ready,
    input  wire               credit_ok,
    output wire               emit_fire,
    output reg                out_valid,
    output reg [N*K*K*DW-1:0] out_win
);
    localparam integer P = K / 2;
    localparam integer Q = (P + N - 1) / N;
    localparam integer WB = W / N;
    localparam integer CW = $clog2(WB + 1);
    localparam integer RW = $clog2(H + 1);
    localparam integer BW = N * DW;       // one beat of one row
    localparam integer CD = K * BW;       // one beat's column: K rows, top (oldest) row at the low bits
    localparam integer NC = N + K - 1;    // pixel columns a beat of windows reads

    reg [RW-1:0] i;
    reg [CW-1:0] j;
    reg tail;                             // the previous frame's last rows still to emit
    reg flush;                            // emitting that tail without input

    wire j_lt_q = j < Q;
    wire main = j_lt_q ? i >= P + 1 : i >= P;
    wire tl = tail && (j_lt_q ? i <= P : i < P);
    wire emits = main || tl;
    wire nodata = flush || (tail && i == 0 && j == 0 && !in_valid);
    wire tail_end = tail && i == P && j == Q - 1;
    assign in_ready = !flush && (!emits || credit_ok);
    wire tick = (nodata || in_valid) && (!emits || credit_ok);
    assign emit_fire = tick && emits;

    wire last_col = j == WB - 1;
    wire last_px = last_col && i == H - 1;
    wire restart = tail_end && nodata;    // tail flushed: the next frame starts from scratch
    wire [CW-1:0] j_adv = last_col ? 0 : j + 1;
    wire [RW-1:0] i_adv = last_px ? 0 : (last_col ? i + 1 : i);

    always @(posedge clk) begin
        if (rst) begin
            i <= 0; j <= 0; tail <= 1'b0; flush <= 1'b0;
        end else if (tick) begin
            i <= restart ? {RW{1'b0}} : i_adv;
            j <= restart ? {CW{1'b0}} : j_adv;
            tail <= !restart && (last_px || (tail && !tail_end));
            flush <= nodata && !tail_end;
        end
    end

    // Which taps of the emitted windows lie in the frame, from the centre (row cr, beat cb): rows
    // cr - P .. cr + P (ok_row[ky]), pixel columns cb*N - P .. cb*N + N - 1 + P (ok_col[l + kx]).
    reg [K-1:0] ok_row;
    reg [NC-1:0] ok_col;
    integer cr, cb, q;
    always @* begin
        cr = j_lt_q ? i - P - 1 : i - P;
        if (cr < 0) cr = cr + H;          // the previous frame's tail
        cb = j_lt_q ? j + WB - Q : j - Q;
        for (q = 0; q < K; q = q + 1)
            ok_row[q] = cr + q >= P && cr + q - P < H;
        for (q = 0; q < NC; q = q + 1)
            ok_col[q] = cb * N + q >= P && cb * N + q - P < W;
    end

    // The tick's pipeline, stage s = 1..K (cycle t+s): strobe, emit, addresses and masks.
    reg [K:1] ts, es;
    reg [K*CW-1:0] js, as;                // stage s at [(s-1)*CW +: CW] (stages 1..K-1 used)
    reg [K*(K+NC)-1:0] ms;                // masks {ok_col, ok_row} of stage s at [(s-1)*(K+NC) +: K+NC]
    always @(posedge clk) begin
        ts <= rst ? {K{1'b0}} : {ts[K-1:1], tick};
        es <= rst ? {K{1'b0}} : {es[K-1:1], emit_fire};
        js <= {js[(K-1)*CW-1:0], j};
        as <= {as[(K-1)*CW-1:0], j_adv};
        ms <= {ms[(K-1)*(K+NC)-1:0], ok_col, ok_row};
        out_valid <= !rst && es[K];
    end

    // The column along the cascade: pc of stage s (s rows: row i at the top slot, row i-s+1 at slot 0)
    // at [(s-1)*CD +: CD]; stage s+1 appends line buffer s's row below... above: {pc_s, rd_s}.
    reg [K*CD-1:0] pc;
    wire [(K-1)*BW-1:0] rd_all;           // line buffer g's prefetched row (i-g) at [(g-1)*BW +: BW]
    integer s;
    always @(posedge clk) begin
        pc[0 +: CD] <= {{(CD - BW){1'b0}}, in_data};
        for (s = 1; s < K; s = s + 1)
            pc[s*CD +: CD] <= {pc[(s-1)*CD +: CD - BW], rd_all[(s-1)*BW +: BW]};
    end

    genvar g;
    generate
        for (g = 1; g < K; g = g + 1) begin : lbuf
            reg [BW-1:0] mem [0:WB-1];
            reg [BW-1:0] rd;
            always @(posedge clk) begin
                if (ts[g]) begin          // every tick, with data or not: the rows shift down the cascade
                    mem[js[(g-1)*CW +: CW]] <= pc[(g-1)*CD +: BW];  // row i-g+1, read for the tick before
                    rd <= mem[as[(g-1)*CW +: CW]];                  // row i-g for the next tick
                end
            end
            assign rd_all[(g-1)*BW +: BW] = rd;
        end
    endgenerate

    // Stage K: the tick's column shifts into the 2Q beats kept, and the N windows are cut from
    // {new column, kept columns} with the masks of the tick.
    wire [CD-1:0] cn = pc[(K-1)*CD +: CD];
    reg [2*Q*CD-1:0] cp;                  // beats c-Q .. c+Q-1, oldest at the low bits
    wire [(2*Q+1)*CD-1:0] cols = {cn, cp};
    wire [K+NC-1:0] mk = ms[(K-1)*(K+NC) +: K+NC];
    integer l, ky, kx, px;
    always @(posedge clk) begin
        if (ts[K]) cp <= cols[(2*Q+1)*CD-1:CD];
        for (l = 0; l < N; l = l + 1)
            for (ky = 0; ky < K; ky = ky + 1)
                for (kx = 0; kx < K; kx = kx + 1) begin
                    px = Q * N + l + kx - P;  // pixel column in cols: beat px / N, lane px % N
                    out_win[(K*K*l + K*ky + kx)*DW +: DW] <= (mk[ky] && mk[K + l + kx])
                        ? cols[(px / N) * CD + ky * BW + (px % N) * DW +: DW] : {DW{1'b0}};
                end
    end
endmodule
