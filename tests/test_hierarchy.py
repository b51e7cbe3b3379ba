"""Hierarchy: grouping resolution, recovery of group values, partial pooling, new groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import FAST

import bayescale as bs
from bayescale.hierarchy import centered_columns, resolve_grouping

TRUE_E = {"web": 1.82, "books": 1.62, "code": 1.05}


def test_groups_apply_to_every_parameter_and_hierarchy_overrides():
    law = bs.laws.get("chinchilla")
    grouping = resolve_grouping(law, "dataset", {"alpha": None, "E": ["dataset", "family"]})
    assert grouping == {"E": ("dataset", "family"), "A": ("dataset",), "B": ("dataset",), "beta": ("dataset",)}
    assert resolve_grouping(law, None, None) == {}


def test_auto_parameterization_centres_only_data_rich_columns():
    codes = {"big": np.repeat([0, 1, 2], 10), "sparse": np.array([0, 0, 1] + [2] * 27)}
    assert centered_columns("auto", codes, {"big": 3, "sparse": 3}, n_params=5) == ("big",)
    assert centered_columns("noncentered", codes, {"big": 3, "sparse": 3}, 5) == ()
    # two levels, however data-rich, stay non-centred: the group sd is barely identified
    two = {"pair": np.repeat([0, 1], 40)}
    assert centered_columns("auto", two, {"pair": 2}, n_params=5) == ()
    assert centered_columns("centered", two, {"pair": 2}, n_params=5) == ("pair",)
    with pytest.raises(ValueError, match="parameterization='partial'"):
        centered_columns("partial", codes, {"big": 3, "sparse": 3}, 5)


def test_group_values_are_recovered(hierarchical_fit):
    post = hierarchical_fit.idata.posterior
    assert post["E_dataset"].dims == ("chain", "draw", "dataset")
    assert list(post["E_dataset"].coords["dataset"].values) == ["books", "code", "web"]
    summary = hierarchical_fit.summary(level=0.9, groups=True)
    for corpus, truth in TRUE_E.items():
        row = summary.loc[f"E_dataset[{corpus}]"]
        assert row["hdi_5%"] <= truth <= row["hdi_95%"], corpus
    assert summary.loc["alpha", "hdi_5%"] <= 0.348 <= summary.loc["alpha", "hdi_95%"]


def test_seen_group_predicts_its_own_curve_and_unseen_group_is_wider(hierarchical_fit):
    rows = pd.DataFrame({"params": [5e8] * 3, "tokens": [1e10] * 3, "dataset": ["web", "code", "new corpus"]})
    table = hierarchical_fit.predict(rows, level=0.9).set_index("dataset")
    assert table.loc["code", "median"] < table.loc["web", "median"] - 0.5
    width = table["upper"] - table["lower"]
    assert width["new corpus"] > 3 * width["web"]
    # A missing grouping column means a new group as well.
    no_group = hierarchical_fit.predict(rows.drop(columns="dataset").head(1), level=0.9)
    assert no_group["upper"].iloc[0] - no_group["lower"].iloc[0] > 3 * width["web"]


@pytest.mark.long
def test_a_small_group_is_pulled_toward_the_population():
    rng = np.random.default_rng(7)
    frames = []
    for group, (E, n) in {"a": (1.8, 25), "b": (1.7, 25), "c": (1.9, 25), "small": (1.45, 2)}.items():
        x = np.geomspace(1e7, 1e10, n)
        y = (E + 300.0 * x**-0.35) * np.exp(0.04 * rng.standard_normal(n))
        frames.append(pd.DataFrame({"x": x, "y": y, "group": group}))
    df = pd.concat(frames, ignore_index=True)
    fit = bs.fit(df, law="power", y="y", hierarchy={"E": "group"}, likelihood="normal", **FAST)
    E_small = fit.draws("E_group")[:, fit.levels["group"].index("small")].mean()
    E_population = np.exp(np.log(fit.draws("E")).mean())
    # The small group's own estimate given the shared curve: its residual floor.
    small = df[df.group == "small"]
    A, alpha = fit.draws("A").mean(), fit.draws("alpha").mean()
    E_alone = float(np.mean(small.y - A * small.x**-alpha))
    shrinkage = (E_small - E_alone) / (E_population - E_alone)
    assert 0.1 < shrinkage < 1.0, (E_alone, E_small, E_population)


@pytest.mark.long
def test_two_grouping_columns_add_up():
    rng = np.random.default_rng(3)
    rows = []
    for family, dE_family in {"f1": 0.0, "f2": 0.15}.items():
        for corpus, E0 in {"web": 1.8, "code": 1.2}.items():
            x = np.geomspace(1e7, 1e10, 12)
            y = (E0 + dE_family + 300.0 * x**-0.35) * np.exp(0.01 * rng.standard_normal(12))
            rows.append(pd.DataFrame({"x": x, "y": y, "family": family, "corpus": corpus}))
    df = pd.concat(rows, ignore_index=True)
    fit = bs.fit(df, law="power", y="y", hierarchy={"E": ["family", "corpus"]}, **FAST)
    post = fit.idata.posterior
    assert post["E_family"].dims[-1] == "family" and post["E_corpus"].dims[-1] == "corpus"
    table = fit.predict(df.groupby(["family", "corpus"]).head(1).assign(x=1e12))
    by_cell = table.set_index(["family", "corpus"])["median"]
    # Additive in log E: the family effect is the same on both corpora.
    ratio_web = by_cell["f2", "web"] / by_cell["f1", "web"]
    ratio_code = by_cell["f2", "code"] / by_cell["f1", "code"]
    assert ratio_web > 1.03 and ratio_code > 1.05
    assert abs(np.log(by_cell["f2", "code"] - 0) - np.log(by_cell["f1", "code"])) > abs(np.log(ratio_web)) * 0.9


def _power_spec(grouping=None, levels=None):
    from bayescale.hierarchy import build_spec, resolve_priors
    from bayescale.likelihoods import get_likelihood

    law = bs.laws.get("power")
    likelihood = get_likelihood("student_t")
    grouping = grouping or {}
    return build_spec(law, likelihood, grouping, levels or {}, resolve_priors(law, likelihood, grouping, None))


def test_floor_pair_has_the_plain_parameterisation_s_density():
    """Sampling (E + A_c, E's share, alpha A_c) keeps the model: the joint density is the plain
    one times the Jacobian T / A_c, at any point and with the priors of E, A_c and alpha."""
    import dataclasses

    import jax.numpy as jnp
    from numpyro.infer.util import log_density

    from bayescale.hierarchy import make_model

    spec = _power_spec()
    assert spec.floor_pair == ("E", "A")
    plain = dataclasses.replace(spec, law=dataclasses.replace(spec.law, floor=None))
    assert plain.floor_pair is None
    x = jnp.geomspace(1e6, 1e9, 9)
    y = 0.8 + 3.0 * (x / 3e7) ** -0.3
    args = ({"x": x}, {}, {"x": jnp.log(3e7)})
    for total, share, alpha in [(3.8, 0.2, 0.3), (1.1, 0.9, 0.05), (12.0, 0.01, 1.2)]:
        noise = {"sigma": 0.02, "nu": 5.0}
        term = (1 - share) * total
        floor_point = {"E_plus_A_c": total, "E_share": share, "A_slope_c": alpha * term, **noise}
        plain_point = {"E": share * total, "A_c": term, "alpha": alpha, **noise}
        got, trace = log_density(make_model(spec), args, {"y": jnp.log(y)}, floor_point)
        want, _ = log_density(make_model(plain), args, {"y": jnp.log(y)}, plain_point)
        assert float(got) == pytest.approx(float(want) + np.log(total / term), abs=1e-3)
        assert float(trace["E"]["value"]) == pytest.approx(share * total, rel=1e-6)
        assert float(trace["alpha"]["value"]) == pytest.approx(alpha, rel=1e-5)


@pytest.mark.long
def test_level_floor_pair_has_the_plain_grouped_density():
    """Each level sampled as a floor pair, with the population value relative to the levels' mean:
    the joint density is the plain non-centred one's times the Jacobian of the change of variables."""
    import dataclasses

    import jax
    import jax.numpy as jnp
    from numpyro.handlers import substitute, trace
    from numpyro.infer.util import log_density

    from bayescale.hierarchy import make_model

    grouped = {name: ("family",) for name in ("E", "A", "alpha")}
    spec = _power_spec(grouped, {"family": ["a", "b"]})
    assert spec.floor_pair is None and spec.level_floor_pair == "family"
    plain = dataclasses.replace(spec, law=dataclasses.replace(spec.law, floor=None))
    assert plain.level_floor_pair is None
    x = jnp.tile(jnp.geomspace(1e6, 1e9, 6), 2)
    family = jnp.repeat(jnp.arange(2), 6)
    y = jnp.where(family == 0, 0.8 + 3.0 * (x / 3e7) ** -0.3, 1.1 + 1.0 * (x / 3e7) ** -0.2)
    args = ({"x": x}, {"family": family}, {"x": jnp.log(3e7)})
    sds = {"E_family_sd": 0.3, "A_family_sd": 0.2, "alpha_family_sd": 0.4, "sigma": 0.02, "nu": 5.0}
    pair_sites = ("E_plus_A_c_family", "E_share_family", "A_slope_c_family", "E_family_gap", "A_c_family_gap",
                  "alpha_family_gap")  # fmt: skip
    plain_sites = ("E", "A_c", "alpha", "E_family_z", "A_family_z", "alpha_family_z")

    def plain_values(flat):
        point = dict(zip(pair_sites, (flat[0:2], flat[2:4], flat[4:6], flat[6], flat[7], flat[8]), strict=True))
        sites = trace(substitute(make_model(spec), data={**point, **sds})).get_trace(*args, y=jnp.log(y))
        return jnp.concatenate([jnp.atleast_1d(sites[name]["value"]) for name in plain_sites])

    for flat in (jnp.array([3.8, 1.2, 0.2, 0.7, 0.9, 0.2, 0.3, -0.5, 1.1]),
                 jnp.array([1.5, 2.5, 0.05, 0.5, 0.1, 0.8, -1.0, 0.2, 0.0])):  # fmt: skip
        point = dict(zip(pair_sites, (flat[0:2], flat[2:4], flat[4:6], flat[6], flat[7], flat[8]), strict=True))
        got, _ = log_density(make_model(spec), args, {"y": jnp.log(y)}, {**point, **sds})
        values = plain_values(flat)
        plain_point = {"E": values[0], "A_c": values[1], "alpha": values[2], "E_family_z": values[3:5],
                       "A_family_z": values[5:7], "alpha_family_z": values[7:9], **sds}  # fmt: skip
        want, _ = log_density(make_model(plain), args, {"y": jnp.log(y)}, plain_point)
        _, log_det = jnp.linalg.slogdet(jax.jacobian(plain_values)(flat))
        assert float(got) == pytest.approx(float(want) + float(log_det), abs=2e-3)


def test_floor_pair_starts_where_the_plain_parameterisation_starts():
    from bayescale.floor_pair import floor_pair_start

    start = floor_pair_start(_power_spec())
    # prior medians: E 0.5, A_c 1, alpha 0.3
    assert start["E_plus_A_c"] == pytest.approx(1.5, rel=0.1)
    assert start["E_share"] == pytest.approx(1 / 3, rel=0.1)
    assert start["A_slope_c"] == pytest.approx(0.3, rel=0.1)
    assert floor_pair_start(_power_spec({"E": ("corpus",)}, {"corpus": ["a", "b", "c"]})) == {}


def test_floor_pair_is_used_only_when_neither_parameter_is_grouped():
    from bayescale.floor_pair import floor_pair_start

    assert _power_spec({"E": ("corpus",)}, {"corpus": ["a", "b", "c"]}).floor_pair is None
    by_corpus = _power_spec({"alpha": ("corpus",)}, {"corpus": ["a", "b", "c"]})
    assert by_corpus.floor_pair == ("E", "A")
    assert "A_slope_c" not in floor_pair_start(by_corpus)  # a grouped exponent keeps its own site


@pytest.mark.long
def test_floor_pair_fit_recovers_a_curve_and_reports_the_law_s_parameters():
    rng = np.random.default_rng(3)
    x = np.geomspace(1e6, 1e9, 12)
    y = (0.9 + 40.0 * x**-0.25) * np.exp(0.01 * rng.standard_normal(x.size))
    fit = bs.fit(pd.DataFrame({"x": x, "y": y}), law="power", y="y", **FAST)
    assert {"E", "A", "A_c", "E_plus_A_c", "E_share", "A_slope_c"} <= set(fit.idata.posterior.data_vars)
    summary = fit.summary(level=0.95)
    assert summary.loc["E", "hdi_2.5%"] <= 0.9 <= summary.loc["E", "hdi_97.5%"]
    assert summary.loc["alpha", "hdi_2.5%"] <= 0.25 <= summary.loc["alpha", "hdi_97.5%"]
    assert fit.diagnostics["divergences"] == 0
    assert fit.meta["settings"]["target_accept_prob"] == 0.99  # the power law's own default


def test_a_floor_pair_must_name_a_floor_and_a_pivoted_coefficient():
    import dataclasses

    law = bs.laws.get("power")
    with pytest.raises(ValueError, match="must name two of its parameters"):
        dataclasses.replace(law, floor=("E", "B"))
    with pytest.raises(ValueError, match="unpivoted floor"):
        dataclasses.replace(law, floor=("A", "E"))


def test_prior_draws_join_the_inference_data_for_arviz(hierarchical_fit):
    import copy

    import arviz as az
    from scipy import stats

    fit = copy.copy(hierarchical_fit)
    fit.idata = hierarchical_fit.idata.copy()
    idata = fit.sample_prior(400, seed=3)
    assert {"prior", "prior_predictive"} <= set(idata.groups())
    assert idata.prior["E_dataset"].dims == ("chain", "draw", "dataset")
    assert idata.prior_predictive["loss"].shape == (1, 400, idata.observed_data["loss"].size)
    # the prior, not the posterior: E's draws follow its LogNormal prior (KS test)
    prior_e = fit.spec.prior_of["E"]
    scale, shape = float(np.exp(prior_e.loc)), float(prior_e.scale)
    ks = stats.kstest(idata.prior["E"].values.ravel(), stats.lognorm(shape, scale=scale).cdf)
    assert ks.pvalue > 0.001
    assert idata.prior["E"].std() > 3 * idata.posterior["E"].std()  # population E of 3 corpora: wide
    # the noise prior is the likelihood's: nu > 1
    assert float(idata.prior["nu"].min()) > 1.0
    az.plot_ppc(idata, group="prior", num_pp_samples=20)
