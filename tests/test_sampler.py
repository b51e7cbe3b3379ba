"""The compiled NUTS driver: cached programs, and their release."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import numpyro.distributions as dist
import pytest
from conftest import FAST

import bayescale as bs
from bayescale import hierarchy, sampler


def test_a_repeat_fit_compiles_nothing(ladder):
    options = {"law": "chinchilla", "inputs": {"N": "params", "D": "tokens"}, **FAST}
    bs.fit(ladder, **options)
    again = bs.fit(ladder, **{**options, "seed": 2})
    assert again.meta["settings"]["timing"]["compile_s"] == 0.0


def test_a_refit_with_other_priors_of_the_same_families_compiles_nothing_and_follows_them(ladder):
    # the priors' parameters are data of the compiled program, not constants baked into it
    options = {"law": "chinchilla", "inputs": {"N": "params", "D": "tokens"}, **FAST}
    first = bs.fit(ladder, **options)
    centre = 0.9 * float(np.mean(first.draws("E")))
    tight = bs.fit(ladder, **options, priors={"E": dist.LogNormal(np.log(centre), 0.01)})
    assert tight.meta["settings"]["timing"]["compile_s"] == 0.0
    assert abs(float(np.mean(tight.draws("E"))) / centre - 1) < 0.02
    assert float(np.std(tight.draws("E"))) < 0.5 * float(np.std(first.draws("E")))


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
@pytest.mark.long
def test_release_compiled_frees_memory_mappings(ladder):
    def maps() -> int:
        return sum(1 for _ in open("/proc/self/maps"))

    bs.fit(ladder, law="kaplan", inputs={"N": "params", "D": "tokens"}, **FAST)
    before = maps()
    sampler.release_compiled()
    assert not sampler._RUNNERS and maps() < before - 500


@pytest.mark.long
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


def test_warm_up_trees_are_capped_and_never_deeper_than_the_draws():
    settings = sampler.Settings(chains=4, draws=100, warmup=100, target_accept_prob=0.9, dense_mass=True)
    assert settings.tree_depths == (sampler.WARMUP_TREE_DEPTH, 10) == (7, 10)
    assert dataclasses.replace(settings, warmup_tree_depth=5).tree_depths == (5, 10)
    assert dataclasses.replace(settings, max_tree_depth=3).tree_depths == (3, 3)
    # one program, one cache key: a warm-up as deep as the draws is no cap
    assert dataclasses.replace(settings, warmup_tree_depth=10) == dataclasses.replace(settings, warmup_tree_depth=None)


def test_fit_s_default_depths_are_the_sampler_s():
    import inspect

    assert inspect.signature(bs.fit).parameters["max_tree_depth"].default == (sampler.WARMUP_TREE_DEPTH, 10)


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


def test_padded_lengths_grow_by_halves_and_hold_every_ladder():
    lengths = [sampler.padded_length(n) for n in (1, 16, 17, 24, 25, 33, 49, 65, 245, 1000)]
    assert lengths == [16, 16, 24, 24, 32, 48, 64, 96, 256, 1024]
    assert all(n <= sampler.padded_length(n) <= max(16, 1.5 * n) for n in range(1, 3000))


@pytest.mark.long
def test_padded_rows_add_nothing_to_the_log_density(ladder_fit):
    from numpyro.infer.util import initialize_model, potential_energy

    from bayescale import inference
    from bayescale.data import prepare_design

    fit = ladder_fit
    design = prepare_design(fit.data, fit.law, y=fit.y, inputs={"N": "N", "D": "D"}, group_columns=[],
                            likelihood=fit.spec.likelihood)  # fmt: skip
    batch = inference._chain_batch(design, 1, 0)
    padded = sampler.pad_rows(batch, design.n + 7)
    assert padded.y.shape == (1, design.n + 7) and padded.mask[0, design.n:].sum() == 0
    assert padded.inputs["N"][0, -1] == batch.inputs["N"][0, 0]  # a padded row repeats the first
    model = sampler.masked_model(fit.spec)

    def energy(b, z=None):
        args = ({k: v[0] for k, v in b.inputs.items()}, {}, {k: v[0] for k, v in b.centres.items()})
        kwargs = {"y": b.y[0], "mask": b.mask[0]}
        if z is None:
            z = initialize_model(jax.random.PRNGKey(0), model, model_args=args, model_kwargs=kwargs).param_info.z
        return z, float(potential_energy(model, args, kwargs, z))

    z, plain = energy(batch)
    assert energy(padded, z)[1] == pytest.approx(plain, rel=1e-6)


@pytest.mark.filterwarnings("ignore::bayescale.ConvergenceWarning")
@pytest.mark.long
def test_ladders_of_similar_length_share_one_program(ladder):
    options = {"law": "chinchilla", "inputs": {"N": "params", "D": "tokens"}, **FAST}
    assert sampler.padded_length(41) == sampler.padded_length(47) == 48
    sampler.release_compiled()  # an earlier test of this process may have compiled the program
    first = bs.fit(ladder.iloc[:41], **options)
    again = bs.fit(ladder.iloc[:47], **options)
    assert first.meta["settings"]["timing"]["compile_s"] > 0
    assert again.meta["settings"]["timing"]["compile_s"] == 0.0
    assert len(again.data) == 47 and again.idata.log_likelihood["loss"].shape[-1] == 47


_TINY_FIT = """
import numpy as np, pandas as pd, bayescale as bs
x = np.geomspace(1e6, 1e9, 8)
bs.fit(pd.DataFrame({"x": x, "loss": 2.0 + 30 * x ** -0.3}), law="power", y="loss",
       chains=1, draws=20, warmup=20, seed=0, progress=False)
"""


@pytest.mark.long
def test_a_new_process_finds_the_program_in_the_persistent_cache(tmp_path):
    # Python's string hashes, and so NumPyro's order of a distribution's fields, change from process
    # to process; the compiled program must not, or every new session compiles every law again.
    def programs_after_a_fit(hash_seed: str) -> set[str]:
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "BAYESCALE_JAX_CACHE": str(tmp_path)}
        subprocess.run([sys.executable, "-c", _TINY_FIT], env=env, check=True, capture_output=True)
        return {p.name for p in tmp_path.glob("jit_batched-*")}

    first = programs_after_a_fit("1")
    assert len(first) == 1  # the NUTS program was compiled and written
    assert programs_after_a_fit("2") == first  # found, not compiled and written again


@pytest.mark.parametrize(
    "prior", [dist.LogNormal(0.3, 0.7), dist.HalfNormal(0.2), dist.Beta(2.0, 3.0), dist.TruncatedNormal(1.0, 2.0, low=0.0)]
)
def test_a_prior_s_fields_by_name_rebuild_the_prior(prior):
    fields = hierarchy.prior_parameters(prior)
    assert all(isinstance(name, str) for name in fields)
    doubled = hierarchy.with_parameters(prior, jax.tree_util.tree_map(lambda v: 2 * v, fields))
    values = np.array([0.2, 0.5, 0.9])
    assert type(doubled) is type(prior)
    assert np.allclose(hierarchy.with_parameters(prior, fields).log_prob(values), prior.log_prob(values))
    assert not np.allclose(doubled.log_prob(values), prior.log_prob(values))  # the fields are the ones it uses


def _model_valid_above(threshold: float):
    """x ~ LogNormal(0, 1) with a log density of -inf below ``threshold`` (the prior median 1 is invalid for threshold > 1)."""
    import jax.numpy as jnp
    import numpyro

    def model():
        x = numpyro.sample("x", dist.LogNormal(0.0, 1.0))
        numpyro.sample("s", dist.Normal(0.0, 1.0).expand([2]))
        numpyro.factor("support", jnp.where(x > threshold, 0.0, -jnp.inf))

    return model


@pytest.mark.parametrize("threshold", [0.5, 5.0])
def test_the_initial_point_is_numpyro_s_median_then_uniform_point(threshold):
    # one loop, one gradient in the program, the same points as numpyro's two searches
    import jax.numpy as jnp
    from numpyro.infer import init_to_median, init_to_uniform
    from numpyro.infer.util import find_valid_initial_params, potential_energy

    model = _model_valid_above(threshold)
    prototype = {"s": jnp.zeros(2), "x": jnp.zeros(())}
    median, uniform = init_to_median(num_samples=31), init_to_uniform(radius=2.0)
    key_median, key_uniform = jax.random.split(jax.random.PRNGKey(3))
    start, valid = sampler.initial_point(model, (), {}, prototype, median, key_median, key_uniform)
    (z_median, _, _), median_valid = find_valid_initial_params(
        key_median, model, init_strategy=median, prototype_params=prototype)
    (z_uniform, _, _), _ = find_valid_initial_params(
        key_uniform, model, init_strategy=uniform, prototype_params=prototype)
    expected = z_median if median_valid else z_uniform
    assert bool(median_valid) == (threshold < 1) and bool(valid)
    for name in prototype:
        np.testing.assert_allclose(start.z[name], expected[name], rtol=1e-6)
    energy, gradient = jax.value_and_grad(lambda z: potential_energy(model, (), {}, z))(start.z)
    np.testing.assert_allclose(start.potential_energy, energy, rtol=1e-6)
    np.testing.assert_allclose(start.z_grad["s"], gradient["s"], rtol=1e-6)
