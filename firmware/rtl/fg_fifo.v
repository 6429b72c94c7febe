// fg_fifo: synchronous first-word-fall-through FIFO of DEPTH words, DW bits each.
//
// Used as each stage's output buffer (sized by the stage's credit counter so it never overflows, which
// is what lets the kernel pipelines run without a stall input) and as the delay FIFO on the skip path
// of an add/concat. `in_ready` and `out_valid` come from registers only.
`timescale 1ns/1ps
module fg_fifo #(
    parameter integer DW = 8,
    parameter integer DEPTH = 4
) (
    input  wire          clk,
    input  wire          rst,
    input  wire [DW-1:0] in_data,
    input  wire          in_valid,
    output wire          in_ready,
    output wire [DW-1:0] out_data,
    output wire          out_valid,
    input  wire          out_ready
);
    localparam integer AW = DEPTH < 2 ? 1 : $clog2(DEPTH);
    localparam integer NW = $clog2(DEPTH + 1);

    reg [DW-1:0] mem [0:DEPTH-1];
    reg [AW-1:0] wp, rp;
    reg [NW-1:0] count;
    wire push = in_valid && in_ready;
    wire pop = out_valid && out_ready;

    assign in_ready = count != DEPTH;
    assign out_valid = count != 0;
    assign out_data = mem[rp];

    always @(posedge clk) begin
        if (rst) begin
            wp <= 0; rp <= 0; count <= 0;
        end else begin
            if (push) begin
                mem[wp] <= in_data;
                wp <= (wp == DEPTH - 1) ? 0 : wp + 1;
            end
            if (pop) rp <= (rp == DEPTH - 1) ? 0 : rp + 1;
            if (push && !pop) count <= count + 1;
            else if (pop && !push) count <= count - 1;
        end
    end
endmodule
