"""Co-simulation: the user's frames, as camera beats, through the generated RTL under cocotb (Verilator or
Icarus) and through the hls4ml C-sim; every output pixel compared with the integer reference."""
