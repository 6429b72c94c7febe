// fg_frame_player: plays camera beats into a generated top and records what comes out, all in HDL.
//
// Why: co-simulation of whole frames (a 2048x2048 frame is 4.2 million cycles) cannot afford any
// per-cycle work outside the simulator. Clock, reset, stimulus and capture are here; the simulator runs
// stand-alone (Verilator: a C++ loop that toggles `clk`, fg_player_main.cpp; Icarus: the clock below
// with FG_OWN_CLOCK). No VPI, no Python in the cycle loop (fluorogate.bench.cosim.frame_sim runs it).
//
// Protocol, cycle for cycle that of the cocotb Python-driven bench (fluorogate.bench.cosim.tb.stream_tb;
// tests/test_cosim_player.py proves they agree): reset is high for the first three rising edges; cycle 0
// is the first edge after it. A beat is held while tready is low; an idle stimulus record (valid 0) is
// consumed in one cycle; tdata, tuser and tlast change only with a valid beat; the consumer's tready is
// ready[cycle % n_ready]; every handshake is decided on the values settled before the rising edge (the
// DUT registers with non-blocking assignments, so this block reads what the Python bench read at the
// falling edge) and the player drives with non-blocking assignments, so nothing races the DUT's edge.
// The run stops after n_out output beats, after max_cycles, or when no beat moved in or out for
// stall_limit cycles (a deadlock); then four more cycles let the error flags settle.
//
// Files (binary; names and counts are plusargs, so one build serves any stimulus of the design):
//   +fg_in=PATH       one record per stimulus cycle, REC_BYTES bytes, big-endian ($fread): a flag byte
//                     {valid, user, last, 5'b0}, then lane FG_LANES-1 .. lane 0, FG_LANE_BYTES each
//   +fg_ready=PATH    one tready bit per line ($readmemb), n_ready lines (at most 65,536)
//   +fg_in_log=PATH   written: the cycle of every accepted input beat, one 32-bit word (%u: little-endian)
//   +fg_out_log=PATH  written: per output beat {tdata padded to 32-bit words, {user, last}, cycle}, %u
//                     (so: cycle, flags, then the tdata words, least significant first)
//   +fg_n_ready +fg_n_out +fg_frame_beats +fg_max_cycles +fg_stall_limit
// stdout: "FG_FRAME k cycle" after the k-th frame's last output beat (the out log flushed first),
// "FG_XBEAT beat cycle" for an output beat with X or Z bits (Icarus; Verilator has none), and at the
// end "FG_DONE cycles err_line_length err_missing_sof frames_in frames_out x_beats stalled".
// Macros: FG_DUT (the generated top), FG_LANES, FG_LANE_BITS (one input pixel), FG_LANE_BYTES,
// FG_OUT_W (m_axis tdata bits); FG_OWN_CLOCK: generate the clock here (Icarus); FG_TAPS: include
// fg_taps.vh (generated per design by fluorogate.bench.cosim.taps: every stage's output stream logged).
`timescale 1ns/1ps
module fg_frame_player (
`ifndef FG_OWN_CLOCK
    input wire clk,
`endif
    output reg finished
);
`ifdef FG_OWN_CLOCK
    reg clk = 1'b0;
    always #5 clk = ~clk;
`endif
    localparam integer IN_W = `FG_LANES * `FG_LANE_BITS;
    localparam integer REC_BYTES = 1 + `FG_LANES * `FG_LANE_BYTES;
    localparam integer OUT_PAD = 32 * ((`FG_OUT_W + 31) / 32) - `FG_OUT_W;

    reg rst = 1'b1;
    reg [1:0] rst_count = 2'd0;
    reg done = 1'b0;
    reg [31:0] cycle = 32'd0;
    reg [IN_W-1:0] in_data = {IN_W{1'b0}};
    reg in_valid = 1'b0, in_user = 1'b0, in_last = 1'b0;
    wire s_valid = in_valid && !rst && !done;
    wire s_ready;
    wire [`FG_OUT_W-1:0] m_data;
    wire m_valid, m_user, m_last;
    wire err_line_length, err_missing_sof;
    wire [31:0] frames_in, frames_out;
    reg ready_mem [0:65535];
    reg [31:0] ready_at = 32'd0, n_ready, n_out, frame_beats, max_cycles, stall_limit;
    reg [31:0] out_seen, x_beats, idle, settle;
    reg stalled;
    wire m_ready = !rst && ready_mem[ready_at];
    integer fd_in, fd_in_log, fd_out_log, got, l;
    reg [8*REC_BYTES-1:0] rec;
    reg [8*1024-1:0] path;

    `FG_DUT dut (
        .clk(clk), .rst(rst),
        .s_axis_tdata(rst ? {IN_W{1'b0}} : in_data), .s_axis_tvalid(s_valid),
        .s_axis_tuser(!rst && in_user), .s_axis_tlast(!rst && in_last), .s_axis_tready(s_ready),
        .m_axis_tdata(m_data), .m_axis_tvalid(m_valid), .m_axis_tuser(m_user), .m_axis_tlast(m_last),
        .m_axis_tready(m_ready), .clear_errors(1'b0),
        .err_line_length(err_line_length), .err_missing_sof(err_missing_sof),
        .frames_in(frames_in), .frames_out(frames_out)
    );

    // Non-blocking in the initial block too (INITIALDLY): the always block drives these non-blocking.
    /* verilator lint_off INITIALDLY */
    // The next stimulus record; past the end of the file the stream stays idle.
    task next_record;
        begin
            got = $fread(rec, fd_in);
            in_valid <= got == REC_BYTES && rec[8*REC_BYTES-1];
            if (got == REC_BYTES && rec[8*REC_BYTES-1]) begin
                in_user <= rec[8*REC_BYTES-2];
                in_last <= rec[8*REC_BYTES-3];
                for (l = 0; l < `FG_LANES; l = l + 1)
                    in_data[l*`FG_LANE_BITS +: `FG_LANE_BITS] <= rec[l*8*`FG_LANE_BYTES +: `FG_LANE_BITS];
            end
        end
    endtask

    initial begin
        finished = 1'b0;
        out_seen = 0;
        x_beats = 0;
        idle = 0;
        settle = 0;
        stalled = 1'b0;
        if (!$value$plusargs("fg_n_ready=%d", n_ready)) n_ready = 1;
        if (!$value$plusargs("fg_n_out=%d", n_out)) n_out = 0;
        if (!$value$plusargs("fg_frame_beats=%d", frame_beats)) frame_beats = 0;
        if (!$value$plusargs("fg_max_cycles=%d", max_cycles)) max_cycles = 32'hffffffff;
        if (!$value$plusargs("fg_stall_limit=%d", stall_limit)) stall_limit = 32'hffffffff;
        if (!$value$plusargs("fg_ready=%s", path)) $fatal(1, "fg_frame_player: +fg_ready=PATH missing");
        $readmemb(path, ready_mem, 0, n_ready - 1);
        if (!$value$plusargs("fg_in=%s", path)) $fatal(1, "fg_frame_player: +fg_in=PATH missing");
        fd_in = $fopen(path, "rb");
        if (fd_in == 0) $fatal(1, "fg_frame_player: cannot open +fg_in");
        if (!$value$plusargs("fg_in_log=%s", path)) $fatal(1, "fg_frame_player: +fg_in_log=PATH missing");
        fd_in_log = $fopen(path, "wb");
        if (!$value$plusargs("fg_out_log=%s", path)) $fatal(1, "fg_frame_player: +fg_out_log=PATH missing");
        fd_out_log = $fopen(path, "wb");
        next_record;
    end
    /* verilator lint_on INITIALDLY */

    always @(posedge clk) begin
        if (rst) begin
            rst_count <= rst_count + 2'd1;
            if (rst_count == 2'd2) rst <= 1'b0;
        end else if (!done) begin
            if (s_valid && s_ready) $fwrite(fd_in_log, "%u", cycle);
            if (!in_valid || s_ready) next_record;
            if (m_ready && m_valid) begin
                if ((^{m_data, m_user, m_last}) === 1'bx) begin
                    if (x_beats == 0) $display("FG_XBEAT %0d %0d", out_seen, cycle);
                    x_beats = x_beats + 1;
                end
                $fwrite(fd_out_log, "%u", {{OUT_PAD{1'b0}}, m_data, 30'd0, m_user, m_last, cycle});
                out_seen = out_seen + 1;
                if (frame_beats != 0 && out_seen % frame_beats == 0) begin
                    $fflush(fd_out_log);
                    $display("FG_FRAME %0d %0d", out_seen / frame_beats, cycle);
                    $fflush();
                end
            end
            idle = (s_valid && s_ready) || (m_ready && m_valid) ? 0 : idle + 1;
            stalled = idle >= stall_limit;
            cycle <= cycle + 1;
            if (out_seen == n_out || cycle + 1 >= max_cycles || stalled) begin
                done <= 1'b1;
                $fclose(fd_in_log);
                $fclose(fd_out_log);
            end else begin
                ready_at <= ready_at + 1 == n_ready ? 0 : ready_at + 1;
            end
        end else begin
            settle <= settle + 1;
            if (settle == 3) begin
                $display("FG_DONE %0d %0d %0d %0d %0d %0d %0d", cycle, err_line_length, err_missing_sof,
                         frames_in, frames_out, x_beats, stalled);
                $fflush();
`ifdef FG_TAPS
                close_taps;
`endif
                finished <= 1'b1;
`ifdef FG_OWN_CLOCK
                $finish;
`endif
            end
        end
    end
`ifdef FG_TAPS
`include "fg_taps.vh"
`endif
endmodule
