"""The FINN back end (finn-plus): a dataflow build from the QONNX, checked bit for bit against the
reference."""
