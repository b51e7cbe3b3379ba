"""Fast parameter recovery for every built-in law: fit synthetic data, the truth must lie in the posterior.

One small fit per law (2 chains x 300 draws after 300 warm-up steps, fixed seeds). A parameter
passes when its true value lies within 3.3 posterior sd of the posterior mean (99.9%: about 110
parameters are checked across the catalogue, so 99% intervals would miss about once by chance); laws with a
``check`` list are weakly identified on a small design, and for them the fitted curve must also
reproduce the noiseless truth within 3% at every design point. A case marked ``multimodal`` is fit
with 4 chains, the default a user gets (two chains can both settle in the same wrong mode, which
no diagnostic then sees), and passes when it recovers, or when its fit warns that it has not converged.
"""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import pytest

import bayescale as bs
from tests.laws.cases import CASES, law_inputs, simulate


def test_every_registered_law_has_a_case():
    # The laws a clean import registers (other tests register more, e.g. broken_power_4).
    import subprocess
    import sys

    code = "import bayescale as bs; print(' '.join(bs.laws.list()['name']))"
    builtin = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert sorted(CASES) == sorted(builtin)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.long
def test_recovery(name):
    case = CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    frame = simulate(name, rng)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chains = 4 if case.multimodal else 2
        fit = bs.fit(frame, law=name, y="y", likelihood=case.likelihood(name), chains=chains, draws=case.draws,
                     warmup=case.draws, seed=1, progress=False)
    if case.multimodal and any(issubclass(w.category, bs.ConvergenceWarning) for w in caught):
        # the user is told; a wrong answer is what must not pass silently
        assert fit.diagnostics["max_rhat"] > 1.01 or fit.diagnostics["min_ess_bulk"] < 400
        return
    checked = case.check or tuple(case.truth)
    misses = []
    for param in checked:
        draws = fit.draws(param)
        # ~110 parameters are checked across the catalogue: at a 99% level about one would miss
        # by chance alone, so each must lie within 3.3 posterior sd of the mean (99.9%).
        z = abs(case.truth[param] - draws.mean()) / draws.std()
        if z > 3.3:
            misses.append(f"{param}: truth {case.truth[param]:.4g} is {z:.1f} sd from the mean {draws.mean():.4g}")
    assert not misses, f"{name}: " + "; ".join(misses)
    if case.check:
        law = bs.laws.get(name)
        truth = np.asarray(law.evaluate(**{k: jnp.asarray(v) for k, v in law_inputs(name, frame).items()},
                                        **{k: jnp.asarray(v) for k, v in case.truth.items()}))
        median = fit.predict(frame)["median"].to_numpy()
        assert np.max(np.abs(median / truth - 1)) < 0.03
