// Self-test ends for a board top: an AXI4-Stream pattern source and a checksum sink.
//
// Why: a camera stream cannot reach a ULX3S over its pins, so the board top feeds the generated core
// from `board_pattern_source` (pseudo-random pixels, exact frame geometry, optional random valid gaps)
// and drains it into `board_checksum_sink` (optional random backpressure, a per-frame checksum of
// every output bit). Every core output reaches a register, so synthesis keeps the whole core, and the
// same stimulus in simulation gives the checksum to expect on the LEDs.

`default_nettype none

// 32-bit Galois LFSR step (taps 32, 22, 2, 1: maximal length).
`define FG_LFSR_NEXT(s) ({1'b0, s[31:1]} ^ (s[0] ? 32'h80200003 : 32'h0))

module board_pattern_source #(
    parameter integer DATA_BITS = 16,
    parameter integer LINE_BEATS = 64,   // beats per line (tlast on the last)
    parameter integer LINES = 32,        // lines per frame (tuser on the first beat)
    parameter [31:0] SEED = 32'h1F0A_7E55
) (
    input  wire                 clk,
    input  wire                 rst,
    input  wire                 gaps,    // 1: tvalid drops at random (about half of the cycles)
    output wire [DATA_BITS-1:0] m_tdata,
    output reg                  m_tvalid,
    input  wire                 m_tready,
    output wire                 m_tuser,
    output wire                 m_tlast
);
    localparam integer WORDS = (DATA_BITS + 31) / 32;
    // One LFSR per 32-bit word of tdata, word k seeded SEED ^ (k * 32'h9E3779B9): in a multi-lane beat
    // (4 lanes of 16 bits = 2 words) every lane carries its own sequence, so a lane swapped, dropped or
    // duplicated inside the core changes the output.
    reg [WORDS*32-1:0] data_lfsr;
    reg [31:0] gap_lfsr;
    reg [$clog2(LINE_BEATS + 1)-1:0] col;
    reg [$clog2(LINES + 1)-1:0] row;
    wire take = m_tvalid && m_tready;
    integer k;
    function [31:0] lfsr_next(input [31:0] s);
        lfsr_next = `FG_LFSR_NEXT(s);
    endfunction

    assign m_tdata = data_lfsr[DATA_BITS-1:0];
    assign m_tuser = col == 0 && row == 0;
    assign m_tlast = col == LINE_BEATS - 1;

    always @(posedge clk) begin
        if (rst) begin
            for (k = 0; k < WORDS; k = k + 1) data_lfsr[k*32 +: 32] <= SEED ^ (k * 32'h9E3779B9);
            gap_lfsr <= ~SEED;
            col <= 0;
            row <= 0;
            m_tvalid <= 1'b0;
        end else begin
            gap_lfsr <= `FG_LFSR_NEXT(gap_lfsr);
            if (take) begin
                for (k = 0; k < WORDS; k = k + 1) data_lfsr[k*32 +: 32] <= lfsr_next(data_lfsr[k*32 +: 32]);
                col <= m_tlast ? 0 : col + 1'b1;
                if (m_tlast) row <= (row == LINES - 1) ? 0 : row + 1'b1;
            end
            // AXI4-Stream: once offered, a beat stays valid until taken.
            if (!m_tvalid || m_tready) m_tvalid <= !gaps || gap_lfsr[0];
        end
    end
endmodule

module board_checksum_sink #(
    parameter integer DATA_BITS = 16,
    parameter [31:0] SEED = 32'h5EED_C0DE
) (
    input  wire                 clk,
    input  wire                 rst,
    input  wire                 backpressure,  // 1: tready drops at random (about half of the cycles)
    input  wire [DATA_BITS-1:0] s_tdata,
    input  wire                 s_tvalid,
    output wire                 s_tready,
    input  wire                 s_tuser,
    input  wire                 s_tlast,
    output reg  [31:0]          checksum,      // of the last complete frame (latched at the next tuser)
    output reg  [15:0]          frames
);
    localparam integer WORDS = (DATA_BITS + 31) / 32;
    reg [31:0] ready_lfsr, acc;
    wire [WORDS*32-1:0] padded = {{(WORDS * 32 - DATA_BITS){1'b0}}, s_tdata};
    reg [31:0] folded;
    integer i;
    // Word i of a beat is rotated left by i before the XOR, so swapping two words (two lanes of a
    // multi-lane output) changes the checksum.
    reg [63:0] twice;
    always @(*) begin
        folded = {30'd0, s_tuser, s_tlast};
        for (i = 0; i < WORDS; i = i + 1) begin
            twice = {2{padded[i*32 +: 32]}};
            folded = folded ^ twice[64 - (i % 32) - 1 -: 32];
        end
    end

    assign s_tready = !backpressure || ready_lfsr[0];
    wire take = s_tvalid && s_tready;

    always @(posedge clk) begin
        if (rst) begin
            ready_lfsr <= SEED;
            acc <= 32'd0;
            checksum <= 32'd0;
            frames <= 16'd0;
        end else begin
            ready_lfsr <= `FG_LFSR_NEXT(ready_lfsr);
            if (take) begin
                if (s_tuser) begin
                    checksum <= acc;
                    frames <= frames + 1'b1;
                    acc <= folded;
                end else begin
                    acc <= {acc[30:0], acc[31]} ^ folded;
                end
            end
        end
    end
endmodule

`undef FG_LFSR_NEXT
`default_nettype wire
