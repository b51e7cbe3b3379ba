"""fit_many(executor="ray") on a local Ray cluster started on loopback equals the in-process run."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.many import fit_many

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'bayescale[ray]')")


def _curves() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frames = []
    for i in range(4):
        x = np.geomspace(1e3, 1e6, 10 + i)
        loss = (0.5 + 0.1 * i + 20.0 * x ** -(0.3 + 0.02 * i)) * np.exp(rng.normal(0.0, 0.01, x.size))
        frames.append(pd.DataFrame({"task": f"t{i}", "x": x, "loss": loss}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_ray_executor_equals_in_process(local_ray):
    options = dict(by="task", chains=2, draws=200, warmup=200, seed=7, chunk_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.ConvergenceWarning)
        here = fit_many(_curves(), "power", **options)
        there = fit_many(_curves(), "power", executor="ray", **options)
    assert there.keys == here.keys
    assert there.meta["settings"]["executor"] == "ray"
    for name in here.param_names:
        np.testing.assert_array_equal(there.samples[name], here.samples[name])
    np.testing.assert_array_equal(there.diverging, here.diverging)
