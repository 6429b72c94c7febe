// The Verilator main of fg_frame_player: toggles the clock until the player says it has finished.
//
// Why a C++ loop and not `verilator --binary --timing` with a Verilog clock: the timing scheduler's
// coroutines cost ~15% per cycle (measured on the default denoiser: 612k vs 717k cycles/s), and there
// is nothing else to schedule. Everything else (reset, stimulus, capture, stopping) is in the player.
#include <memory>

#include "Vfg_frame_player.h"
#include "verilated.h"

int main(int argc, char **argv) {
    const std::unique_ptr<VerilatedContext> context{new VerilatedContext};
    context->commandArgs(argc, argv);
    const std::unique_ptr<Vfg_frame_player> top{new Vfg_frame_player{context.get()}};
    top->clk = 0;
    top->eval();
    while (!top->finished && !context->gotFinish()) {
        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->eval();
        context->timeInc(10);  // 10 ns per cycle, as the cocotb benches clock it
    }
    top->final();
    return context->gotFinish() && !top->finished ? 1 : 0;
}
