"""The compiled NUTS driver: cached programs, and their release."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FAST

import bayescale as bs
from bayescale import sampler


def test_a_repeat_fit_compiles_nothing(ladder):
    options = {"law": "chinchilla", "inputs": {"N": "params", "D": "tokens"}, **FAST}
    bs.fit(ladder, **options)
    again = bs.fit(ladder, **{**options, "seed": 2})
    assert again.meta["settings"]["timing"]["compile_s"] == 0.0


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
def test_release_compiled_frees_memory_mappings(ladder):
    def maps() -> int:
        return sum(1 for _ in open("/proc/self/maps"))

    bs.fit(ladder, law="kaplan", inputs={"N": "params", "D": "tokens"}, **FAST)
    before = maps()
    sampler.release_compiled()
    assert not sampler._RUNNERS and maps() < before - 500
