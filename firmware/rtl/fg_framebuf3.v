// fg_framebuf3: three consecutive camera frames -> one 3-channel stream (sim3: one SIM frame per angle).
//
// AXI4-Stream video in (tuser = start of frame, tlast = end of line), one DW-bit pixel per beat. Frames
// are counted from reset in triplets: the first of each triplet is written to block RAM A, the second to
// block RAM B, and while the third streams in, every pixel leaves together with the pixels at the same
// address in A and B: m_tdata = {third, second, first} (channel c at bits [c*DW +: DW], the layout the
// generated design's s_axis expects for a 3-channel input). Output frames come on every third input
// frame, with the third frame's tuser/tlast. The first two frames of a triplet are always accepted
// (s_tready high: the camera is never stalled there); during the third, s_tready follows the output
// (a one-deep pipeline in front of the block RAMs' registered read port).
//
// On-chip only for small frames: 2 * W * H * DW bits of block RAM (256x256 x 8 bit: 1 Mbit, 64 of the
// LFE5U-85F's 208 EBRs). Full sCMOS frames go to external memory (docs/tasks.md, "sim3").
// The address restarts at every tuser beat; frames of the wrong size are the downstream
// fg_frontend's to flag.
`timescale 1ns/1ps
module fg_framebuf3 #(
    parameter integer W = 16,
    parameter integer H = 16,
    parameter integer DW = 8
) (
    input  wire          clk,
    input  wire          rst,
    input  wire [DW-1:0] s_tdata,
    input  wire          s_tvalid,
    input  wire          s_tuser,
    input  wire          s_tlast,
    output wire          s_tready,
    output wire [3*DW-1:0] m_tdata,
    output reg           m_tvalid,
    output reg           m_tuser,
    output reg           m_tlast,
    input  wire          m_tready
);
    localparam integer N = W * H;
    localparam integer AW = $clog2(N);

    reg [DW-1:0] mem_a [0:N-1];
    reg [DW-1:0] mem_b [0:N-1];
    reg [DW-1:0] q_a, q_b, third;
    reg [AW-1:0] cnt;       // address of the next pixel of the current frame
    reg [1:0] ph;           // triplet position of the current frame: 0 -> A, 1 -> B, 2 -> out
    reg [1:0] nph;          // ... of the next frame

    wire [1:0] ph_now = s_tuser ? nph : ph;  // a tuser beat starts the next frame
    wire [AW-1:0] addr = s_tuser ? {AW{1'b0}} : cnt;
    wire advance = !m_tvalid || m_tready;
    assign s_tready = ph_now != 2'd2 || advance;
    wire take = s_tvalid && s_tready;
    assign m_tdata = {third, q_b, q_a};

    always @(posedge clk) begin
        if (take && ph_now == 2'd0) mem_a[addr] <= s_tdata;
        if (take && ph_now == 2'd1) mem_b[addr] <= s_tdata;
        if (take && ph_now == 2'd2) begin
            q_a <= mem_a[addr];
            q_b <= mem_b[addr];
            third <= s_tdata;
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            cnt <= 0; ph <= 2'd0; nph <= 2'd0;
            m_tvalid <= 1'b0; m_tuser <= 1'b0; m_tlast <= 1'b0;
        end else begin
            if (take) begin
                cnt <= addr + 1'b1;
                if (s_tuser) begin
                    ph <= nph;
                    nph <= nph == 2'd2 ? 2'd0 : nph + 1'b1;
                end
            end
            if (advance) begin
                m_tvalid <= take && ph_now == 2'd2;
                m_tuser <= s_tuser;
                m_tlast <= s_tlast;
            end
        end
    end
endmodule
