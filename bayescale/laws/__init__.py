"""Scaling laws: the :class:`~bayescale.Law` abstraction, the registry and the built-in laws.

``bs.laws.list()`` shows every registered law, ``bs.laws.get(name)`` returns one and
``bs.law(...)`` defines your own. Each built-in law lives in a module of its family.
"""

from bayescale.laws.base import Law, Parameter
from bayescale.laws.registry import get, law, list, register

# Built-in laws register themselves on import.
from bayescale.laws import (  # noqa: E402,F401  isort: skip
    annealing,
    broken_power,
    chinchilla,
    data_constrained,
    downstream_links,
    farseer,
    filtering,
    hyperparams,
    kaplan,
    kaplan_steps,
    moe,
    overtraining,
    parscale,
    power,
    quantization,
    simple,
    sparse,
    test_time,
)

__all__ = ["Law", "Parameter", "get", "law", "list", "register"]
