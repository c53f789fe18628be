"""The spot-check sample: weighted toward units that reported few problems.

The Yuzhou notice says exactly this: a unit that found few problems is suspicious, so
it is more likely to be checked. Weight = 1 / (1 + problems the unit has in the plan).
The draw is reproducible: the same seed over the same population gives the same sample
(weighted sampling without replacement, Efraimidis–Spirakis keys).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence


def unit_weights(problem_counts: Mapping[int, int]) -> dict[int, float]:
    return {unit: 1.0 / (1 + n) for unit, n in problem_counts.items()}


def draw(population: Sequence[tuple[int, int]], weights: Mapping[int, float], size: int, seed: int) -> list[int]:
    """``population``: (task id, unit id) pairs. Returns ``size`` task ids (or all)."""
    rng = random.Random(seed)
    keyed = [(rng.random() ** (1.0 / weights[unit]), task) for task, unit in sorted(population)]
    keyed.sort(reverse=True)
    return [task for _, task in keyed[:size]]
