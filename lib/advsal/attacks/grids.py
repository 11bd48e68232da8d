"""Calibration grids shared by attacks of one norm (sorted; the smallest value
with F's accuracy below the target is taken). Keyed by grid family: MNIST, and
CIFAR-10 (which the ImageNet-level sets use too)."""
from __future__ import annotations

LINF = {"mnist": [round(0.025 * i, 3) for i in range(1, 21)],                  # 0.025 .. 0.5
        "cifar10": [round(i / 255, 5) for i in (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32)]}
L2 = {"mnist": [0.25 * i for i in range(1, 33)],                                # 0.25 .. 8
      "cifar10": [round(0.05 * i, 3) for i in range(1, 21)]
      + [round(0.1 * i, 3) for i in range(11, 41)]}                             # 0.05 .. 4
L1 = {"mnist": [2.5 * i for i in range(1, 41)],                                 # 2.5 .. 100
      "cifar10": [1.0 * i for i in range(1, 41)]}
GAMMA = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2]       # JSMA, share
