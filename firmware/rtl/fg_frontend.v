// fg_frontend: AXI4-Stream video input checker that hands the core exactly W x H pixels per frame.
//
// The core's line buffers count pixels, so a malformed frame must never reach it as is. This module
// repairs the stream and raises sticky error flags instead:
// - missing start of frame (a beat without tuser where a frame should begin): dropped until a tuser;
// - a line ending early (tlast before column W-1): the rest of the line is filled with zeros;
// - a line running long (no tlast at column W-1): beats are dropped up to and including its tlast;
// - a frame ending early (tuser in mid frame): the frame is completed with zeros, then the new frame
//   starts from that tuser beat.
// So the frame after a malformed one is processed exactly. Flags stay set until `clear_errors`.
// The input passes a 2-word register slice first (full rate, 1 cycle): `s_tready` is a flip-flop, and
// the source's tuser/tlast logic (a board top's counters) never shares a clock period with the state
// machine (14.5 ns on the 2048x2048 demo build without it).
// Reset: `rst` is this block's registered copy of the core's reset (the generator's reset tree); the
// other blocks leave reset in the same cycle, and `s_tready` stays low until then, so no beat is taken
// while any part of the core is still being reset.
`timescale 1ns/1ps
module fg_frontend #(
    parameter integer W = 16,
    parameter integer H = 16,
    parameter integer DW = 16
) (
    input  wire          clk,
    input  wire          rst,
    input  wire [DW-1:0] s_tdata,
    input  wire          s_tvalid,
    input  wire          s_tuser,
    input  wire          s_tlast,
    output wire          s_tready,
    output reg  [DW-1:0] px_data,
    output reg           px_valid,
    input  wire          px_ready,
    input  wire          clear_errors,
    output reg           err_line_length,
    output reg           err_missing_sof,
    output reg  [31:0]   frames_in
);
    localparam [2:0] IDLE = 3'd0, PIX = 3'd1, FILL_LINE = 3'd2, FILL_FRAME = 3'd3, DROP = 3'd4;
    localparam integer CW = $clog2(W + 1);
    localparam integer RW = $clog2(H + 1);

    reg [2:0] state;
    reg [CW-1:0] col;
    reg [RW-1:0] row;
    // Position flags as registers (col == W-1, row == H-1, (row, col) == (0, 0)), updated from comparisons
    // of the counters with constants: the state logic starts at flip-flops, and the frame counter
    // increments a cycle later (75.5 MHz build: col -> comparators -> a LUT shared with frames_in, placed
    // by the LED pins -> state, 13.25 ns).
    reg last_col, last_row, at_start, frame_done;
    // clear_errors is registered first: from a board pin, logic merged with it (the error flags share
    // `px` with the state machine) was placed by that pin (77.3 MHz build: 2 x 4.2 ns of routing).
    reg clear_r;
    wire last_px = last_col && last_row;

    wire [DW-1:0] b_tdata;
    wire b_tvalid, b_tuser, b_tlast;
    reg b_tready;  // the state machine's side of the slice; it may depend on b_tuser
    wire slice_ready;
    assign s_tready = slice_ready && !rst;
    fg_fifo #(.DW(DW + 2), .DEPTH(2)) in_slice (.clk(clk), .rst(rst), .in_data({s_tuser, s_tlast, s_tdata}),
        .in_valid(s_tvalid), .in_ready(slice_ready), .out_data({b_tuser, b_tlast, b_tdata}), .out_valid(b_tvalid),
        .out_ready(b_tready));

    // Combinational routing of one beat / one generated pixel.
    always @(*) begin
        b_tready = 1'b0; px_valid = 1'b0; px_data = b_tdata;
        case (state)
            IDLE: begin
                px_valid = b_tvalid && b_tuser;
                b_tready = b_tuser ? px_ready : 1'b1;
            end
            PIX: begin
                px_valid = b_tvalid && !b_tuser;
                b_tready = !b_tuser && px_ready;
            end
            FILL_LINE, FILL_FRAME: begin
                px_valid = 1'b1; px_data = {DW{1'b0}};
            end
            default: b_tready = !b_tuser;  // DROP
        endcase
    end

    wire beat = b_tvalid && b_tready;
    wire px = px_valid && px_ready;
    wire from_input = state == IDLE || state == PIX;

    always @(posedge clk) begin
        if (rst) begin
            state <= IDLE; col <= 0; row <= 0; last_col <= W == 1; last_row <= H == 1; at_start <= 1'b1;
            frame_done <= 1'b0; clear_r <= 1'b0; err_line_length <= 1'b0; err_missing_sof <= 1'b0; frames_in <= 0;
        end else begin
            if (clear_r) begin
                err_line_length <= 1'b0; err_missing_sof <= 1'b0;
            end
            frame_done <= px && last_px;
            clear_r <= clear_errors;
            if (frame_done) frames_in <= frames_in + 1;
            if (px) begin
                col <= last_col ? 0 : col + 1;
                last_col <= last_col ? W == 1 : col == W - 2;
                at_start <= last_px;
                if (last_col) begin
                    row <= last_row ? 0 : row + 1;
                    last_row <= last_row ? H == 1 : row == H - 2;
                end
            end
            case (state)
                IDLE: if (beat && !b_tuser) err_missing_sof <= 1'b1;
                      else if (px) state <= next_after_input(b_tlast);
                PIX: if (b_tvalid && b_tuser) begin
                         err_line_length <= 1'b1; state <= FILL_FRAME;
                     end else if (px) state <= next_after_input(b_tlast);
                FILL_LINE: if (px && last_col) state <= last_px ? IDLE : PIX;
                FILL_FRAME: if (px && last_px) state <= IDLE;
                default: if (b_tvalid && b_tuser) state <= at_start ? IDLE : FILL_FRAME;
                         else if (beat && b_tlast) state <= at_start ? IDLE : PIX;
            endcase
            if (from_input && px && (last_col != b_tlast)) err_line_length <= 1'b1;
        end
    end

    // State after a pixel taken from the input at (row, col) with the beat's tlast.
    function [2:0] next_after_input(input tlast);
        begin
            if (last_col && !tlast) next_after_input = DROP;       // line too long
            else if (!last_col && tlast) next_after_input = FILL_LINE;  // line too short
            else if (last_px) next_after_input = IDLE;
            else next_after_input = PIX;
        end
    endfunction
endmodule
