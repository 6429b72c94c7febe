"""The hls4ml back end: a Vitis/Vivado HLS project from the QONNX, its types set from the IR, C-simulated
with g++."""
