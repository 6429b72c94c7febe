"""cocotb testbenches: modules run inside the simulator (imported by cocotb, not by pytest)."""
