"""Parity tier: saebench against SAEBench 0.6.0's committed outputs on identical inputs.

`SAEBENCH_PARITY_DEVICE=cuda python -m pytest tests/parity` runs saebench's side on a GPU (the fixtures
stay SAEBench's CPU outputs), which is how CUDA-vs-CPU differences are measured."""

import os

DEVICE = os.environ.get("SAEBENCH_PARITY_DEVICE", "cpu")
