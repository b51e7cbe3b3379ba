"""The compiled NUTS driver: cached programs, and their release."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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


def test_map_and_vmap_batching_sample_the_same_posterior(monkeypatch):
    # fit_many runs a device's (key, chain) pairs one after another on a CPU ("map"); the
    # lock-step "vmap" used on a GPU must give the same posterior (draws differ by rounding).
    from bayescale import many
    from tests.test_many import SAMPLER, _curves, _quiet

    data = _curves()
    with _quiet():
        by_map = many.fit_many(data, "power", by="task", inputs={"x": "steps"}, **SAMPLER).summary()
        monkeypatch.setattr(many, "batching_for", lambda device: "vmap")
        by_vmap = many.fit_many(data, "power", by="task", inputs={"x": "steps"}, **SAMPLER).summary()
    z = (by_map["mean"] - by_vmap["mean"]).abs() / by_map["sd"]
    assert z.max() < 1.0, z.sort_values().tail()


def test_unknown_batching_is_refused():
    with pytest.raises(ValueError, match="batching='loop' must be 'vmap' or 'map'"):
        sampler.run(None, None, sampler.Batch(np.zeros((1, 2)), {}, {}, {}, np.zeros((1, 3)), np.ones((1, 3))),
                    batching="loop")


def test_the_target_acceptance_comes_from_the_call_then_the_law_then_the_default(ladder_fit):
    import bayescale as bs
    from bayescale import sampler

    power, chinchilla = bs.laws.get("power"), bs.laws.get("chinchilla")
    assert sampler.target_accept(power, None) == 0.99  # measured on 229 real curves (law's comment)
    assert sampler.target_accept(chinchilla, None) == sampler.TARGET_ACCEPT == 0.95
    assert sampler.target_accept(power, 0.8) == 0.8
    assert ladder_fit.meta["settings"]["target_accept_prob"] == 0.95


def test_draws_are_kept_in_float64(ladder_fit):
    """Summaries sum thousands of draws; a pivoted coefficient far from x = 1 reaches 1e37, where a
    float32 sum overflows (it did in benchmarks/fit_many.py's summary of A on curves of C)."""
    assert ladder_fit.idata.posterior["A"].dtype == np.float64
    big = np.full(4000, 1e37, dtype=np.float32)
    with np.errstate(over="ignore"):
        assert not np.isfinite(big.sum())  # what float64 draws avoid
    assert np.isfinite(big.astype(np.float64).sum())
