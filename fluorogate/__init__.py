"""fluorogate: quantized CNN image restoration in an FPGA camera data path, bit-exact end to end."""

__version__ = "0.1.0"
