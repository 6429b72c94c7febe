// fg_stream_player: the cocotb stream bench's beat player and recorder, on the HDL side.
//
// Why: driving and sampling the AXI4-Stream ports from Python costs a few awaits and handle accesses
// per clock cycle, which bounded the bench at ~150 cycles/s even under Verilator. Here the simulator
// does that per-cycle work itself; cocotb (fluorogate.bench.cosim.tb.stream_tb) only writes the files, starts
// the clock, resets, waits for `done` and checks what was recorded, with the same rules as before.
//
// Cycle-for-cycle the same protocol as the Python driver: cycle 0 is the first cycle after reset; a
// beat is held while tready is low; an idle stimulus line (valid 0) is consumed in one cycle; tdata,
// tuser and tlast change only with a valid beat; the consumer's tready is ready[cycle % n_ready];
// every handshake is decided on the values settled before the rising edge (the DUT registers with
// non-blocking assignments, so this block reads them as the Python bench read them at the falling edge).
// The run stops after `n_out` output beats or `max_cycles` cycles: tvalid drops, tready holds.
//
// Files (names and counts as plusargs, so one build serves any stimulus):
//   +fg_in=PATH      one line per stimulus cycle: "<flags hex> <tdata hex>", flags = {valid, user, last}
//   +fg_ready=PATH   one tready bit per line, n_ready lines ($readmemb, at most READY_DEPTH)
//   +fg_in_log=PATH  written: the cycle of every accepted input beat, one per line
//   +fg_out_log=PATH written: "<cycle> <tdata hex> <{tuser, tlast}>" for every output beat
//   +fg_n_ready=N +fg_n_out=N +fg_max_cycles=N
// Macros: FG_DUT (the generated top's module name), FG_IN_W, FG_OUT_W (tdata widths).
module fg_stream_player #(
    parameter integer READY_DEPTH = 65536
) (
    input wire clk /*verilator public_flat_rw*/,
    input wire rst /*verilator public_flat_rw*/,
    output reg done /*verilator public_flat_rw*/,
    output reg [31:0] cycle /*verilator public_flat_rw*/,
    output wire err_line_length /*verilator public_flat_rw*/,
    output wire err_missing_sof /*verilator public_flat_rw*/,
    output wire [31:0] frames_in /*verilator public_flat_rw*/,
    output wire [31:0] frames_out /*verilator public_flat_rw*/
);
    reg [`FG_IN_W-1:0] in_data;
    reg in_valid, in_user, in_last;
    wire s_valid = in_valid && !rst && !done;
    wire s_ready;
    wire [`FG_OUT_W-1:0] m_data;
    wire m_valid, m_user, m_last;
    reg ready_mem [0:READY_DEPTH-1];
    reg [31:0] ready_at, n_ready, n_out, max_cycles, out_seen;
    wire m_ready = !rst && ready_mem[ready_at];
    integer fd_in, fd_in_log, fd_out_log, got;
    reg [2:0] line_flags;
    reg line_valid;
    reg [`FG_IN_W-1:0] line_data;
    reg [8*1024-1:0] path;

    `FG_DUT dut (
        .clk(clk), .rst(rst),
        .s_axis_tdata(rst ? {`FG_IN_W{1'b0}} : in_data), .s_axis_tvalid(s_valid),
        .s_axis_tuser(!rst && in_user), .s_axis_tlast(!rst && in_last), .s_axis_tready(s_ready),
        .m_axis_tdata(m_data), .m_axis_tvalid(m_valid), .m_axis_tuser(m_user), .m_axis_tlast(m_last),
        .m_axis_tready(m_ready), .clear_errors(1'b0),
        .err_line_length(err_line_length), .err_missing_sof(err_missing_sof),
        .frames_in(frames_in), .frames_out(frames_out)
    );

    // Non-blocking in the initial block too (INITIALDLY): the always block drives these non-blocking,
    // and mixing the two on one variable is not allowed.
    /* verilator lint_off INITIALDLY */
    // Take the next stimulus line; past the end of the file the stream stays idle. Non-blocking: the
    // DUT reads in_* at the same edge.
    task next_line;
        begin
            got = $fscanf(fd_in, "%h %h\n", line_flags, line_data);
            line_valid = got == 2 && line_flags[2];
            in_valid <= line_valid;
            if (line_valid) begin
                in_data <= line_data;
                in_user <= line_flags[1];
                in_last <= line_flags[0];
            end
        end
    endtask

    initial begin
        done <= 0;
        cycle <= 0;
        ready_at <= 0;
        out_seen = 0;
        in_data <= 0;
        in_user <= 0;
        in_last <= 0;
        if (!$value$plusargs("fg_n_ready=%d", n_ready)) n_ready = 1;
        if (!$value$plusargs("fg_n_out=%d", n_out)) n_out = 0;
        if (!$value$plusargs("fg_max_cycles=%d", max_cycles)) max_cycles = 0;
        if (!$value$plusargs("fg_ready=%s", path)) $fatal(1, "fg_stream_player: +fg_ready=PATH missing");
        $readmemb(path, ready_mem, 0, n_ready - 1);
        if (!$value$plusargs("fg_in=%s", path)) $fatal(1, "fg_stream_player: +fg_in=PATH missing");
        fd_in = $fopen(path, "r");
        if (!$value$plusargs("fg_in_log=%s", path)) $fatal(1, "fg_stream_player: +fg_in_log=PATH missing");
        fd_in_log = $fopen(path, "w");
        if (!$value$plusargs("fg_out_log=%s", path)) $fatal(1, "fg_stream_player: +fg_out_log=PATH missing");
        fd_out_log = $fopen(path, "w");
        next_line;
    end
    /* verilator lint_on INITIALDLY */

    always @(posedge clk) begin
        if (!rst && !done) begin
            if (s_valid && s_ready) $fwrite(fd_in_log, "%0d\n", cycle);
            if (!in_valid || s_ready) next_line;
            if (m_ready && m_valid) begin
                $fwrite(fd_out_log, "%0d %h %0d\n", cycle, m_data, {m_user, m_last});
                out_seen = out_seen + 1;
            end
            cycle <= cycle + 1;
            if (out_seen == n_out || cycle + 1 >= max_cycles) begin
                done <= 1;
                $fclose(fd_in_log);
                $fclose(fd_out_log);
            end else begin
                ready_at <= ready_at + 1 == n_ready ? 0 : ready_at + 1;
            end
        end
    end
endmodule
