// fg_fifo: synchronous first-word-fall-through FIFO of DEPTH words, DW bits each.
//
// Used as each stage's output buffer (sized by the stage's credit counter so it never overflows, which
// is what lets the kernel pipelines run without a stall input) and as the delay FIFO on the skip path
// of an add/concat. `in_ready` and `out_valid` are flip-flops; their next values compare the count
// register with constants and let push/pop only select (no adder between the handshake and the flag).
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
    reg nonempty, notfull;  // count != 0, count != DEPTH, registered: the handshake starts at a flip-flop
    wire push = in_valid && in_ready;
    wire pop = out_valid && out_ready;
    wire [NW-1:0] count_next = count + push - pop;

    assign in_ready = notfull;
    assign out_valid = nonempty;
    assign out_data = mem[rp];

    always @(posedge clk) begin
        if (rst) begin
            wp <= 0; rp <= 0; count <= 0; nonempty <= 1'b0; notfull <= 1'b1;
        end else begin
            if (push) begin
                mem[wp] <= in_data;
                wp <= (wp == DEPTH - 1) ? 0 : wp + 1;
            end
            if (pop) rp <= (rp == DEPTH - 1) ? 0 : rp + 1;
            count <= count_next;
            nonempty <= push || (pop ? count != 1 : nonempty);    // count_next != 0
            notfull <= pop || (push ? count != DEPTH - 1 : notfull);  // count_next != DEPTH
        end
    end
endmodule
