"""The simulated microscope and camera streams: specimens, optics, sensor, task pairs, SIM, SMLM, beats."""
