"""The parameter sampler of the category grammars (in- and out-of-distribution draws)."""

from __future__ import annotations

import numpy as np


class Sampler:
    """Draws a category's parameters from ``rng``.

    ``prop(lo, hi)`` marks a proportion and ``count(lo, hi)`` a repeat count (inclusive). In ``ood`` mode
    each one is drawn, with probability 1/2, just above its training range (proportions up to 35 % of the
    range beyond ``hi``, counts ``hi + 1`` or ``hi + 2``); the draws that left the range are recorded in
    ``ood_params``. Other draws (``u``, ``chance``, ``choice``) never change with ``ood``.
    """

    def __init__(self, rng: np.random.Generator, ood: bool = False):
        self.rng, self.ood = rng, ood
        self.ood_params: list[str] = []

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def prop(self, lo: float, hi: float, name: str = "prop") -> float:
        x = float(self.rng.uniform(lo, hi))
        flip = float(self.rng.random())
        if self.ood and flip < 0.5:
            x = hi + (0.1 + 0.25 * (x - lo) / (hi - lo)) * (hi - lo)
            self.ood_params.append(name)
        return x

    def count(self, lo: int, hi: int, name: str = "count") -> int:
        n = int(self.rng.integers(lo, hi + 1))
        flip = float(self.rng.random())
        if self.ood and flip < 0.5:
            n = hi + 1 + int(self.rng.integers(0, 2))
            self.ood_params.append(name)
        return n

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def choice(self, options):
        return options[int(self.rng.integers(0, len(options)))]
