// smoke_box3x3: the bitstream flow's smoke-test core, a streaming 3x3 box sum with line buffers.
//
// Why it exists: it exercises what a generated fluorogate core needs from yosys/nextpnr (block-RAM
// line buffers, adder carry chains, AXI4-Stream handshakes with backpressure) in a module small
// enough to build in a minute, so the flow and both simulators are tested without the generator.
//
// Semantics (one output beat per input beat): for the pixel at (y, x) of a frame
//   out = sum_{dy, dx in 0..2} in[y - dy][x - dx], with pixels outside the frame counted as 0,
// i.e. a causal 3x3 window ending at the current pixel (a 'same' box sum shifted by one row and one
// column). Lines are delimited by tlast, frames start at tuser; 3 <= line width <= MAX_WIDTH.
//
// Pipeline (3 stages, one global enable, so it stalls as a whole under backpressure):
//   A: line-buffer read of the current column (DP16KD, read enable = stall enable), pixel registered;
//   B: block-RAM outputs registered in fabric: ECP5 DP16KD clk-to-q is ~5.8 ns at speed 6, so any
//      logic right behind it misses 100 MHz (measured: 71.7 MHz without this stage);
//   C: masked 3x3 sum into the output register. Line buffers are written from stage B, two columns
//      behind the read address, so a read never meets a write to the same address.
`default_nettype none
module smoke_box3x3 #(
    parameter integer DATA_BITS = 16,
    parameter integer MAX_WIDTH = 1024
) (
    input  wire                   clk,
    input  wire                   rst,
    input  wire [DATA_BITS-1:0]   s_axis_tdata,
    input  wire                   s_axis_tvalid,
    output wire                   s_axis_tready,
    input  wire                   s_axis_tuser,
    input  wire                   s_axis_tlast,
    output reg  [DATA_BITS+3:0]   m_axis_tdata,
    output reg                    m_axis_tvalid,
    input  wire                   m_axis_tready,
    output reg                    m_axis_tuser,
    output reg                    m_axis_tlast
);
    localparam integer AW = $clog2(MAX_WIDTH);
    localparam integer CW = DATA_BITS + 2;  // column sum of 3 pixels

    wire en = !m_axis_tvalid || m_axis_tready;
    assign s_axis_tready = en;
    wire take = s_axis_tvalid && en;

    // Input-side position: column counter and saturating row index (only row >= 1, >= 2 matter).
    reg [AW-1:0] x_in;
    reg [1:0]    y_in;
    wire [1:0]   y_now = s_axis_tuser ? 2'd0 : y_in;

    reg [DATA_BITS-1:0] lb1 [0:MAX_WIDTH-1];  // row y-1
    reg [DATA_BITS-1:0] lb2 [0:MAX_WIDTH-1];  // row y-2
    reg [DATA_BITS-1:0] q1_a, q2_a;           // block-RAM read registers (stage A)

    // Stage A and B registers.
    reg              v_a, v_b, u_a, u_b, l_a, l_b;
    reg [DATA_BITS-1:0] d_a, d_b, q1_b, q2_b;
    reg [AW-1:0]     x_a, x_b;
    reg [1:0]        y_a, y_b;
    reg [CW-1:0]     col1, col2;

    always @(posedge clk) begin
        if (en) begin
            q1_a <= lb1[x_in];
            q2_a <= lb2[x_in];
        end
        if (en && v_b) begin
            lb1[x_b] <= d_b;
            lb2[x_b] <= q1_b;
        end
    end

    localparam [1:0] Z2 = 2'b00;
    wire [CW-1:0] col0 = {Z2, d_b} + (y_b >= 2'd1 ? {Z2, q1_b} : {CW{1'b0}})
                                   + (y_b >= 2'd2 ? {Z2, q2_b} : {CW{1'b0}});
    wire [CW+1:0] window = {Z2, col0} + (x_b >= 1 ? {Z2, col1} : {(CW+2){1'b0}})
                                      + (x_b >= 2 ? {Z2, col2} : {(CW+2){1'b0}});

    always @(posedge clk) begin
        if (rst) begin
            x_in <= {AW{1'b0}};
            y_in <= 2'd0;
            v_a <= 1'b0;
            v_b <= 1'b0;
            m_axis_tvalid <= 1'b0;
        end else if (en) begin
            if (take) begin
                x_in <= s_axis_tlast ? {AW{1'b0}} : x_in + 1'b1;
                y_in <= !s_axis_tlast ? y_now : (y_now == 2'd2 ? 2'd2 : y_now + 1'b1);
            end
            v_a <= take;
            v_b <= v_a;
            m_axis_tvalid <= v_b;
        end
        if (en) begin
            {d_a, x_a, y_a, u_a, l_a} <= {s_axis_tdata, x_in, y_now, s_axis_tuser, s_axis_tlast};
            {d_b, x_b, y_b, u_b, l_b} <= {d_a, x_a, y_a, u_a, l_a};
            {q1_b, q2_b} <= {q1_a, q2_a};
            if (v_b) begin
                col1 <= col0;
                col2 <= col1;
            end
            m_axis_tdata <= window;
            m_axis_tuser <= u_b;
            m_axis_tlast <= l_b;
        end
    end
endmodule
`default_nettype wire
