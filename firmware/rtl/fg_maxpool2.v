// fg_maxpool2: 2x2 max pooling, stride 2, of a W x H frame (W, H even) of CH channels, B bits each.
//
// One tick per input pixel. Even columns are held; at odd columns the horizontal pair's max goes to a
// half-width line buffer (even rows) or, with the buffered max of the row above, out (odd rows): one
// output per four inputs. Same handshake as fg_window3 (`credit_ok` only gates the emitting ticks).
`timescale 1ns/1ps
module fg_maxpool2 #(
    parameter integer W = 16,
    parameter integer H = 16,
    parameter integer CH = 1,
    parameter integer B = 8,
    parameter integer SIGNED = 0
) (
    input  wire            clk,
    input  wire            rst,
    input  wire [CH*B-1:0] in_data,
    input  wire            in_valid,
    output wire            in_ready,
    input  wire            credit_ok,
    output wire            emit_fire,
    output reg             out_valid,
    output reg [CH*B-1:0]  out_data
);
    localparam integer CW = $clog2(W + 1);
    localparam integer RW = $clog2(H + 1);

    reg [CH*B-1:0] lb [0:W/2-1];
    reg [CH*B-1:0] rd, hold;
    reg [CW-1:0] j;
    reg [RW-1:0] i;
    wire emits = i[0] && j[0];
    assign in_ready = !emits || credit_ok;
    wire tick = in_valid && in_ready;
    assign emit_fire = tick && emits;

    function [CH*B-1:0] vmax(input [CH*B-1:0] a, input [CH*B-1:0] b);
        integer c;
        reg [B:0] ea, eb;  // one extra bit: sign- or zero-extended, compared as signed
        begin
            for (c = 0; c < CH; c = c + 1) begin
                ea = {SIGNED ? a[c*B + B - 1] : 1'b0, a[c*B +: B]};
                eb = {SIGNED ? b[c*B + B - 1] : 1'b0, b[c*B +: B]};
                vmax[c*B +: B] = ($signed(ea) > $signed(eb)) ? a[c*B +: B] : b[c*B +: B];
            end
        end
    endfunction

    wire [CH*B-1:0] h = vmax(hold, in_data);

    always @(posedge clk) begin
        out_valid <= 1'b0;
        if (rst) begin
            i <= 0; j <= 0;
        end else if (tick) begin
            if (!j[0]) begin
                hold <= in_data;
                rd <= lb[j >> 1];
            end else if (!i[0]) begin
                lb[j >> 1] <= h;
            end else begin
                out_valid <= 1'b1;
                out_data <= vmax(rd, h);
            end
            j <= (j == W - 1) ? 0 : j + 1;
            if (j == W - 1) i <= (i == H - 1) ? 0 : i + 1;
        end
    end
endmodule
