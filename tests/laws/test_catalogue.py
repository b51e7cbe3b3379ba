"""The catalogue: every law the issue names is registered, documented, and its derived inputs work."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.data import add_derived, annealing_areas, average_parameter_count
from bayescale.laws.broken_power import broken_power_law
from bayescale.laws.test_time import saturation_budget

NAMES = [
    "power", "power_pure", "log_linear", "exponential", "broken_power", "non_monotone", "chinchilla", "kaplan",
    "kaplan_steps", "sparse_average", "data_constrained", "overtraining", "farseer", "chinchilla_farseer", "parscale", "lr_annealing",
    "fp_quantization", "moe", "optimal_lr", "optimal_batch", "data_filtering", "error_from_loss",
    "sigmoid_from_loss", "passuntil_from_loss", "passuntil", "bleu_log", "pass_at_k", "horizon",
]
HIGHER = {"log_linear", "sigmoid_from_loss", "passuntil_from_loss", "passuntil", "bleu_log", "pass_at_k", "horizon", "optimal_lr",
          "optimal_batch"}


def test_every_named_law_is_listed():
    listed = set(bs.laws.list()["name"])
    assert set(NAMES) <= listed, sorted(set(NAMES) - listed)


@pytest.mark.parametrize("name", NAMES)
def test_law_is_documented(name):
    law = bs.laws.get(name)
    assert law.formula and law.reference and "arXiv" in law.reference
    assert all(p.source for p in law.params), [p.name for p in law.params if not p.source]
    assert law.lower_is_better is (name not in HIGHER)
    assert name in law.describe()


def test_chinchilla_parameter_names_are_kept():
    assert bs.laws.get("chinchilla").param_names == ("E", "A", "alpha", "B", "beta")
    assert bs.laws.get("broken_power").param_names == ("E", "A", "alpha", "delta", "x_break", "s")


def test_broken_power_with_n_breaks():
    law = broken_power_law(4)
    assert law.name == "broken_power_4" and bs.laws.get("broken_power_4") is law
    assert {"delta_4", "gap_4", "s_4", "x_break"} <= set(law.param_names)
    assert broken_power_law(1) is bs.laws.get("broken_power")
    with pytest.raises(ValueError, match="n_breaks=0"):
        broken_power_law(0)
    # With every delta 0 the broken law is the plain power law.
    values = {p: 0.0 if p.startswith("delta") else 1.0 for p in law.param_names}
    values.update(E=0.5, A=2.0, alpha=0.3)
    x = np.logspace(0, 5, 7)
    np.testing.assert_allclose(law.evaluate(x=x, **values), 0.5 + 2.0 * x**-0.3, rtol=1e-5)


def test_log_mean_matches_mean():
    from tests.laws.cases import CASES, law_inputs

    for name, case in CASES.items():
        law = bs.laws.get(name)
        inputs = law_inputs(name, case.design())
        mean = np.asarray(law.evaluate(**inputs, **case.truth))
        log_mean = np.asarray(law.evaluate_log(**inputs, **case.truth))
        np.testing.assert_allclose(np.exp(log_mean), mean, rtol=1e-4, err_msg=name)


def test_average_parameter_count():
    # dense 25% of training, cubic pruning to 50% sparsity until 75%, then sparse: 0.25 + 0.5*0.625 + 0.25*0.5
    assert average_parameter_count(100.0, 0.5, 0.25, 0.75) == pytest.approx(68.75)
    assert average_parameter_count(100.0, 0.0, 0.25, 0.75) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="sparsity must lie in"):
        average_parameter_count(100.0, 1.0, 0.2, 0.8)
    with pytest.raises(ValueError, match="prune_start=0.8, prune_end=0.2"):
        average_parameter_count(100.0, 0.5, 0.8, 0.2)


def test_annealing_areas():
    step = np.array([1.0, 2.0, 3.0, 4.0, 1.0, 3.0])
    lr = np.array([1.0, 1.0, 0.5, 0.5, 1.0, 1.0])
    S1, S2 = annealing_areas(step, lr, decay=0.5)
    np.testing.assert_allclose(S1, [1.0, 2.0, 2.5, 3.0, 1.0, 3.0])
    # drop of 0.5 at step 3: momentum 0.5, then 0.25 -> S2 = 0.5, 0.75; the second run is constant
    np.testing.assert_allclose(S2, [0.0, 0.0, 0.5, 0.75, 0.0, 0.0])
    with pytest.raises(ValueError, match="decay=1.5"):
        annealing_areas(step, lr, decay=1.5)


def test_derived_columns_feed_laws():
    frame = pd.DataFrame({"N": [1e8], "D": [2e9], "sparsity": [0.5], "prune_start": [0.25], "prune_end": [0.75],
                          "block_size": [128.0], "step": [10.0], "lr": [1e-3]})
    out = add_derived(frame)
    assert out.loc[0, "C"] == pytest.approx(1.2e18)
    assert out.loc[0, "M"] == pytest.approx(20.0)
    assert out.loc[0, "N_avg"] == pytest.approx(6.875e7)
    assert out.loc[0, "log2_block"] == pytest.approx(7.0)
    assert out.loc[0, "S1"] == pytest.approx(1e-2)


def test_saturation_budget():
    # gain of sample k+1 is F p (1-p)^k; below 1e-3 from k = log(1e-3 / 0.04) / log(0.95) ~ 71.9
    assert saturation_budget(0.8, 0.05, 1e-3) == pytest.approx(np.log(1e-3 / 0.04) / np.log(0.95))
    with pytest.raises(ValueError, match="p=1.5"):
        saturation_budget(0.8, 1.5)
