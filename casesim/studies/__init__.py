"""Studies built on runs: comparisons, sweeps, the staffing solver, checks, calibration, golden outputs.
"""
