// fg_fifo_bram: first-word-fall-through FIFO of DEPTH words for block RAM, same ports as fg_fifo.
//
// Why: fg_fifo reads `mem[rp]` asynchronously; for a deep FIFO yosys turns that into a DP16KD read port
// addressed by `rp`'s next value, so the consumer's handshake (pop -> rp + 1 -> address) travels to
// block RAMs spread over the die. Here every DP16KD pin meets a flip-flop: writes are registered
// (address, data, enable one cycle after the push), the RAM is read every cycle at `rp` (a register),
// and a read is issued only from registered counts into a 4-word output buffer, which `out_*` serve.
// Holds DEPTH words like fg_fifo; costs 3 more cycles from push to out_valid.
`timescale 1ns/1ps
module fg_fifo_bram #(
    parameter integer DW = 8,
    parameter integer DEPTH = 1024
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
    localparam integer AW = $clog2(DEPTH);
    localparam integer NW = $clog2(DEPTH + 1);

    reg [DW-1:0] mem [0:DEPTH-1];
    reg [AW-1:0] wp, rp, w_addr;
    reg [DW-1:0] w_data, q;
    reg w_en, issued;
    reg [NW-1:0] count, avail;  // words held in all; words written to the RAM and not yet issued
    reg notfull, has_avail;

    // Output buffer: 4 words, FWFT from flip-flops.
    reg [DW-1:0] ob [0:3];
    reg [1:0] ob_wp, ob_rp;
    reg [2:0] ob_count;
    reg ob_nonempty;

    wire push = in_valid && notfull;
    wire pop = ob_nonempty && out_ready;
    wire issue = has_avail && ob_count + issued < 3;  // registered terms only: no handshake to the RAM
    wire [NW-1:0] avail_next = avail + w_en - issue;
    wire [2:0] ob_count_next = ob_count + issued - pop;

    assign in_ready = notfull;
    assign out_valid = ob_nonempty;
    assign out_data = ob[ob_rp];

    always @(posedge clk) begin
        w_en <= !rst && push;
        w_data <= in_data;
        w_addr <= wp;
        if (w_en) mem[w_addr] <= w_data;
        q <= mem[rp];
        if (issued) ob[ob_wp] <= q;
        if (rst) begin
            wp <= 0; rp <= 0; count <= 0; avail <= 0; issued <= 1'b0; notfull <= 1'b1; has_avail <= 1'b0;
            ob_wp <= 0; ob_rp <= 0; ob_count <= 0; ob_nonempty <= 1'b0;
        end else begin
            if (push) wp <= (wp == DEPTH - 1) ? 0 : wp + 1;
            if (issue) rp <= (rp == DEPTH - 1) ? 0 : rp + 1;
            issued <= issue;
            count <= count + push - pop;
            notfull <= pop || (push ? count != DEPTH - 1 : notfull);  // count_next != DEPTH
            avail <= avail_next;
            // avail_next != 0 without the adder (110.7 MHz build: issued -> avail + w_en - issue -> != 0 ->
            // has_avail, 13 levels): a write leaves it nonzero, an issue empties it only from 1.
            has_avail <= w_en || (issue ? avail != 1 : has_avail);
            if (issued) ob_wp <= ob_wp + 1;
            if (pop) ob_rp <= ob_rp + 1;
            ob_count <= ob_count_next;
            ob_nonempty <= ob_count_next != 0;
        end
    end
endmodule
