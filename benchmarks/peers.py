"""Speed against peers: the same Bayesian Chinchilla model fitted four ways, in one process.

Model (identical in every implementation, natural data scale, priors from
``bs.laws.get("chinchilla")`` and the ``student_t`` likelihood of ``bayescale.likelihoods``)::

    E ~ LogNormal(log 1.8, 0.6)     A ~ LogNormal(log 450, 2.5)    alpha ~ LogNormal(log 0.34, 0.5)
    B ~ LogNormal(log 1000, 2.5)    beta ~ LogNormal(log 0.33, 0.5)
    sigma ~ HalfNormal(0.1)         nu ~ 1 + Gamma(2, rate 0.1)
    log L_i ~ StudentT(nu, log(E + A N_i^-alpha + B D_i^-beta), sigma)

Implementations: bayescale (``bs.fit``), PyMC sampled by nutpie, Stan (PyStan 3; CmdStan
needs a download from GitHub, which this machine cannot reach), and NumPyro written the
obvious way (natural parameters, default NUTS). Each: 4 chains, 1,000 warm-up, 1,000 draws.

Reported per implementation and dataset: ``total_s`` (wall time from the call to usable
draws, compilation included), ``sampling_s`` (the sampling part: for bayescale and NumPyro
a second run of the already compiled sampler; for nutpie and Stan the sample call after the
separate compile/build step), minimum bulk ESS over the 7 parameters, ESS per second of
total time, max r_hat, divergences, and the ratio of each figure to bayescale's.

Also measured: bayescale's second fit of the same law and data shape in the same session
(a user's second notebook cell), with the seconds JAX spent compiling during it (from
``jax.monitoring`` compile-duration events).

With ``--matched-ess`` only bayescale and nutpie run, each at the fewest draws per chain of
``DRAW_LADDER`` that reach min bulk ESS >= 1,000 (:func:`run_matched`).

Run (peers come from the ``bench`` extra)::

    pip install -e '.[bench]'
    BAYESCALE_DATA_DIR=../shared/data python benchmarks/peers.py [--only chinchilla] [--skip stan]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from functools import partial

import bayescale as bs  # isort: skip  (first: sets the XLA host devices before JAX starts)

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

warnings.simplefilter("ignore", FutureWarning)
import arviz as az  # noqa: E402
from fit_many import depths  # noqa: E402  (the --max-tree-depth argument of the benchmarks)

CHAINS, WARMUP, DRAWS = 4, 1000, 1000
PARAMS = ["E", "A", "alpha", "B", "beta", "sigma", "nu"]

# --------------------------------------------------------------------------------------------
# compile-time accounting (JAX)
_COMPILE = {"s": 0.0}


def _listener(event: str, duration: float, **kwargs) -> None:
    if "compile" in event and "backend_compile" in event:
        _COMPILE["s"] += duration


jax.monitoring.register_event_duration_secs_listener(_listener)


def diagnostics(idata) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ess = az.ess(idata, var_names=PARAMS, method="bulk")
        rhat = az.rhat(idata, var_names=PARAMS)
    div = int(np.asarray(idata.sample_stats["diverging"]).sum()) if "diverging" in idata.sample_stats else -1
    return {
        "min_ess": min(float(ess[v]) for v in PARAMS),
        "max_rhat": max(float(rhat[v]) for v in PARAMS),
        "divergences": div,
    }


def priors_from_package():
    law = bs.laws.get("chinchilla")
    lik = bs.LIKELIHOODS["student_t"]
    p = {q.name: q.prior for q in law.params}
    out = {name: (float(p[name].loc), float(p[name].scale)) for name in ["E", "A", "alpha", "B", "beta"]}
    out["sigma"] = float(lik.noise_priors["sigma"].scale)
    nu = lik.noise_priors["nu"]  # low + Gamma(concentration, rate), a shifted gamma
    out["nu"] = (float(nu.base_dist.concentration), float(nu.base_dist.rate))
    out["nu_low"] = float(nu.transforms[0].loc)
    return out


PRIORS = priors_from_package()


# --------------------------------------------------------------------------------------------
def run_bayescale(df: pd.DataFrame, device: str | None = None, draws: int = DRAWS,
                  max_tree_depth: int | tuple[int, int] | None = None) -> dict:
    """``bs.fit`` twice (seeds 0 and 1) on ``device``: the first call's total with its XLA compile,
    the second call's (the compiled program reused), and the first fit's diagnostics."""
    options = dict(law="chinchilla", y="loss", inputs={"N": "N", "D": "D"}, chains=CHAINS, draws=draws,
                   warmup=WARMUP, seed=0, progress=False, device=device)  # fmt: skip
    if max_tree_depth is not None:  # else bs.fit's default
        options["max_tree_depth"] = max_tree_depth
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.ConvergenceWarning)
        _COMPILE["s"] = 0.0
        start = time.perf_counter()
        fit = bs.fit(df, **options)
        total = time.perf_counter() - start
        first_compile = _COMPILE["s"]
        _COMPILE["s"] = 0.0
        start = time.perf_counter()
        bs.fit(df, **{**options, "seed": 1})
        second = time.perf_counter() - start
        second_compile = _COMPILE["s"]
    out = {"total_s": total, "sampling_s": second, "compile_s": first_compile, **diagnostics(fit.idata)}
    out["note"] = (f"first fit: {first_compile:.1f} s of XLA compile; second fit (same shape, new seed): "
                   f"{second:.2f} s wall, {second_compile:.2f} s of XLA compile")  # fmt: skip
    return out


def run_numpyro_plain(df: pd.DataFrame) -> dict:
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    P = PRIORS

    def model(N, D, log_y=None):
        E = numpyro.sample("E", dist.LogNormal(*P["E"]))
        A = numpyro.sample("A", dist.LogNormal(*P["A"]))
        alpha = numpyro.sample("alpha", dist.LogNormal(*P["alpha"]))
        B = numpyro.sample("B", dist.LogNormal(*P["B"]))
        beta = numpyro.sample("beta", dist.LogNormal(*P["beta"]))
        sigma = numpyro.sample("sigma", dist.HalfNormal(P["sigma"]))
        nu = numpyro.deterministic("nu", P["nu_low"] + numpyro.sample("nu_excess", dist.Gamma(*P["nu"])))
        mu = jnp.log(E + A * N ** (-alpha) + B * D ** (-beta))
        numpyro.sample("y", dist.StudentT(nu, mu, sigma), obs=log_y)

    args = (jnp.asarray(df["N"].to_numpy()), jnp.asarray(df["D"].to_numpy()), jnp.asarray(np.log(df["loss"].to_numpy())))
    mcmc = MCMC(NUTS(model), num_warmup=WARMUP, num_samples=DRAWS, num_chains=CHAINS, progress_bar=False)
    start = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(0), *args, extra_fields=("diverging",))
    samples = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    div = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["diverging"])
    total = time.perf_counter() - start
    start = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(1), *args)
    jax.block_until_ready(mcmc.get_samples())
    sampling = time.perf_counter() - start
    idata = az.from_dict(posterior=samples, sample_stats={"diverging": div})
    return {"total_s": total, "sampling_s": sampling, **diagnostics(idata), "note": "chain_method=parallel (default)"}


def run_pymc_nutpie(df: pd.DataFrame, draws: int = DRAWS) -> dict:
    import nutpie
    import pymc as pm

    P = PRIORS
    logN, logD, log_y = np.log(df["N"].to_numpy()), np.log(df["D"].to_numpy()), np.log(df["loss"].to_numpy())
    start = time.perf_counter()
    with pm.Model() as model:
        E = pm.LogNormal("E", mu=P["E"][0], sigma=P["E"][1])
        A = pm.LogNormal("A", mu=P["A"][0], sigma=P["A"][1])
        alpha = pm.LogNormal("alpha", mu=P["alpha"][0], sigma=P["alpha"][1])
        B = pm.LogNormal("B", mu=P["B"][0], sigma=P["B"][1])
        beta = pm.LogNormal("beta", mu=P["beta"][0], sigma=P["beta"][1])
        sigma = pm.HalfNormal("sigma", sigma=P["sigma"])
        nu = pm.Deterministic("nu", P["nu_low"] + pm.Gamma("nu_excess", alpha=P["nu"][0], beta=P["nu"][1]))
        mu = pm.math.log(E + A * pm.math.exp(-alpha * logN) + B * pm.math.exp(-beta * logD))
        pm.StudentT("y", nu=nu, mu=mu, sigma=sigma, observed=log_y)
    compiled = nutpie.compile_pymc_model(model)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    idata = nutpie.sample(compiled, chains=CHAINS, tune=WARMUP, draws=draws, seed=0, progress_bar=False)
    sampling = time.perf_counter() - start
    return {"total_s": compile_s + sampling, "sampling_s": sampling, "compile_s": compile_s, **diagnostics(idata),
            "note": f"compile_pymc_model {compile_s:.1f} s (numba backend)"}  # fmt: skip


STAN_CODE = """
data { int<lower=1> n; vector[n] logN; vector[n] logD; vector[n] log_y; }
parameters {
  real<lower=0> E; real<lower=0> A; real<lower=0> alpha; real<lower=0> B; real<lower=0> beta;
  real<lower=0> sigma; real<lower=%(nl)r> nu;
}
model {
  vector[n] mu = log(E + A * exp(-alpha * logN) + B * exp(-beta * logD));
  E ~ lognormal(%(E0)r, %(E1)r); A ~ lognormal(%(A0)r, %(A1)r); alpha ~ lognormal(%(a0)r, %(a1)r);
  B ~ lognormal(%(B0)r, %(B1)r); beta ~ lognormal(%(b0)r, %(b1)r);
  sigma ~ normal(0, %(s)r); nu - %(nl)r ~ gamma(%(n0)r, %(n1)r);
  log_y ~ student_t(nu, mu, sigma);
}
"""


def run_stan(df: pd.DataFrame) -> dict:
    import stan

    P = PRIORS
    code = STAN_CODE % {
        "E0": P["E"][0], "E1": P["E"][1], "A0": P["A"][0], "A1": P["A"][1], "a0": P["alpha"][0],
        "a1": P["alpha"][1], "B0": P["B"][0], "B1": P["B"][1], "b0": P["beta"][0], "b1": P["beta"][1],
        "s": P["sigma"], "n0": P["nu"][0], "n1": P["nu"][1], "nl": P["nu_low"],
    }  # fmt: skip
    data = {"n": len(df), "logN": np.log(df["N"].to_numpy()), "logD": np.log(df["D"].to_numpy()),
            "log_y": np.log(df["loss"].to_numpy())}  # fmt: skip
    start = time.perf_counter()
    posterior = stan.build(code, data=data, random_seed=0)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    fit = posterior.sample(num_chains=CHAINS, num_samples=DRAWS, num_warmup=WARMUP)
    sampling = time.perf_counter() - start
    samples = {name: np.asarray(fit[name]).reshape(DRAWS, CHAINS).T for name in PARAMS}
    div = np.asarray(fit["divergent__"]).reshape(DRAWS, CHAINS).T
    idata = az.from_dict(posterior=samples, sample_stats={"diverging": div})
    return {"total_s": build_s + sampling, "sampling_s": sampling, **diagnostics(idata),
            "note": f"stan.build {build_s:.1f} s (C++ compile; httpstan caches it across sessions)"}  # fmt: skip


# --------------------------------------------------------------------------------------------
def synthetic(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Points of a Chinchilla law (Besiroglu et al. 2024 values) with Student-t noise in log space."""
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), n))
    D = np.exp(rng.uniform(np.log(1e9), np.log(1e12), n))
    mean = 1.82 + 482.0 * N**-0.3478 + 2085.0 * D**-0.3658
    loss = mean * np.exp(0.02 * rng.standard_t(5.0, n))
    return pd.DataFrame({"N": N, "D": D, "loss": loss})


#: Draws per chain tried, smallest first, by ``--matched-ess`` (the same rungs for every implementation).
DRAW_LADDER = (300, 500, 750, 1000, 1500, 2000, 3000)
ESS_TARGET = 1000


def run_matched(runner, df: pd.DataFrame) -> dict:
    """Issue 15's part 3 as worded, "from the call to a converged posterior with min ESS >= 1,000":
    ``runner`` at the draws per chain of :data:`DRAW_LADDER`, smallest first (warm-up unchanged),
    until the minimum bulk ESS reaches :data:`ESS_TARGET` with r_hat <= 1.01. The total counts
    the *first* attempt's compile seconds (cold; a later attempt of nutpie reuses numba's
    in-process caches, of bayescale compiles a new program of its own) and the matched
    attempt's sampling seconds (bayescale: its first fit's wall time less its compile)."""
    tries, first_compile = [], None
    for draws in DRAW_LADDER:
        result = runner(df, draws=draws)
        first_compile = result["compile_s"] if first_compile is None else first_compile
        tries.append(f"{draws}: ESS {result['min_ess']:.0f}")
        reached = result["min_ess"] >= ESS_TARGET and result["max_rhat"] <= 1.01
        if reached:
            break
    # bayescale's total_s is its first call, compile included; nutpie's is compile + sample
    sampling = result["total_s"] - result["compile_s"]
    return {**result, "total_s": first_compile + sampling, "sampling_s": sampling, "draws": draws,
            "note": f"{'matched' if reached else 'ESS >= 1,000 NOT reached at'} draws per chain {draws} "
                    f"(tried {'; '.join(tries)}); compile of the first try "
                    f"{first_compile:.1f} s + sampling {sampling:.1f} s"}  # fmt: skip


RUNNERS = {"bayescale": run_bayescale, "pymc+nutpie": run_pymc_nutpie, "stan": run_stan, "numpyro": run_numpyro_plain}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["chinchilla", "synthetic2000"], default=None)
    parser.add_argument("--skip", nargs="*", default=[])
    parser.add_argument("--matched-ess", action="store_true",
                        help=f"bayescale and nutpie only, each at the fewest draws of {DRAW_LADDER} per chain "
                             f"that give min bulk ESS >= {ESS_TARGET} (run_matched)")
    parser.add_argument("--max-tree-depth", type=depths, default=None,
                        help="bs.fit's NUTS tree depth limits, one number or 'warm-up,draws' (default: bs.fit's)")
    args = parser.parse_args()
    runners = {**RUNNERS, "bayescale": partial(run_bayescale, max_tree_depth=args.max_tree_depth)}
    if args.matched_ess:
        args.skip = sorted(set(args.skip) | {"stan", "numpyro"})
    datasets = {"chinchilla": bs.datasets.load("chinchilla")[["N", "D", "loss"]], "synthetic2000": synthetic()}
    if args.only:
        datasets = {args.only: datasets[args.only]}
    print(f"machine: {os.cpu_count()} CPUs, load average at start {os.getloadavg()}; jax devices {jax.devices()}")
    rows = []
    for data_name, df in datasets.items():
        for name, runner in runners.items():
            if name in args.skip:
                continue
            load = os.getloadavg()[0]
            try:
                result = run_matched(runner, df) if args.matched_ess else runner(df)
            except Exception as error:  # a peer that fails to install or run is reported, not hidden
                result = {"total_s": np.nan, "sampling_s": np.nan, "min_ess": np.nan, "max_rhat": np.nan,
                          "divergences": -1, "note": f"failed: {type(error).__name__}: {error}"[:200]}  # fmt: skip
            result.update(dataset=data_name, implementation=name, load_1min=load)
            print(f"  {data_name:14s} {name:12s} total {result['total_s']:7.1f} s  sampling {result['sampling_s']:7.1f} s  "
                  f"min ESS {result['min_ess']:7.0f}  r_hat {result['max_rhat']:.3f}  div {result['divergences']}  "
                  f"| {result.get('note', '')}", flush=True)  # fmt: skip
            rows.append(result)
    if not rows:
        print("every implementation was skipped: nothing to compare")
        return
    table = pd.DataFrame(rows)
    table["ess_per_s"] = table["min_ess"] / table["total_s"]
    table["ess_per_sampling_s"] = table["min_ess"] / table["sampling_s"]
    table["total_vs_bayescale"] = table["ess_per_s_vs_bayescale"] = np.nan  # without bayescale, no ratios
    for data_name in table["dataset"].unique():
        part = table["dataset"] == data_name
        reference = table[part & (table["implementation"] == "bayescale")]
        if reference.empty:
            continue
        ref = reference.iloc[0]
        table.loc[part, "total_vs_bayescale"] = table.loc[part, "total_s"] / ref["total_s"]
        table.loc[part, "ess_per_s_vs_bayescale"] = table.loc[part, "ess_per_s"] / ref["ess_per_s"]
    columns = ["dataset", "implementation", "total_s", "sampling_s", "min_ess", "ess_per_s", "ess_per_sampling_s",
               "max_rhat", "divergences", "total_vs_bayescale", "ess_per_s_vs_bayescale", "load_1min"]  # fmt: skip
    print()
    print(table[columns].to_markdown(index=False, floatfmt=".3g"))
    print()
    for _, row in table.iterrows():
        print(f"- {row['dataset']} / {row['implementation']}: {row.get('note', '')}")


if __name__ == "__main__":
    main()
