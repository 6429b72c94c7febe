// fg_upsample2: nearest-neighbour 2x upsampling of a W x H frame (input geometry) of DW-bit pixels.
//
// Ticks walk the 2W x 2H output. Even output rows take one input pixel per two output pixels and keep
// it in a line buffer; odd output rows replay the buffer without input. So the input is taken at a
// quarter of the output rate: with one output pixel per clock the producer sees tready at most 1/4 of
// the time. Same handshake as fg_window3.
`timescale 1ns/1ps
module fg_upsample2 #(
    parameter integer W = 16,
    parameter integer H = 16,
    parameter integer DW = 8
) (
    input  wire          clk,
    input  wire          rst,
    input  wire [DW-1:0] in_data,
    input  wire          in_valid,
    output wire          in_ready,
    input  wire          credit_ok,
    output wire          emit_fire,
    output reg           out_valid,
    output reg [DW-1:0]  out_data
);
    localparam integer CW = $clog2(2 * W + 1);
    localparam integer RW = $clog2(2 * H + 1);

    reg [DW-1:0] lb [0:W-1];
    reg [DW-1:0] rd, hold;
    reg [CW-1:0] c;  // output column
    reg [RW-1:0] r;  // output row
    wire take = !r[0] && !c[0];  // this tick consumes an input pixel
    assign in_ready = take && credit_ok;
    wire tick = credit_ok && (!take || in_valid);
    assign emit_fire = tick;
    wire last_col = c == 2 * W - 1;
    // Prefetch address for the odd row: the pair after this one, or pixel 0 when a row ends.
    wire [CW-1:0] next_pair = last_col ? 0 : (c + 1) >> 1;

    always @(posedge clk) begin
        out_valid <= 1'b0;
        if (rst) begin
            r <= 0; c <= 0;
        end else if (tick) begin
            out_valid <= 1'b1;
            if (take) begin
                lb[c >> 1] <= in_data;
                hold <= in_data;
                out_data <= in_data;
            end else if (!r[0]) begin
                out_data <= hold;
            end else if (!c[0]) begin
                out_data <= rd;
                hold <= rd;
            end else begin
                out_data <= hold;
            end
            if (c[0]) rd <= lb[next_pair];
            c <= last_col ? 0 : c + 1;
            if (last_col) r <= (r == 2 * H - 1) ? 0 : r + 1;
        end
    end
endmodule
