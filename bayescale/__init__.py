"""bayescale: Bayesian scaling laws with hierarchical NumPyro models.

>>> import bayescale as bs
>>> df = bs.examples.load("three_datasets")
>>> fit = bs.fit(df, law="chinchilla", y="loss", inputs={"N": "params", "D": "tokens"},
...              hierarchy={"E": "dataset", "A": "dataset"})          # doctest: +SKIP
>>> fit.predict(df.head(), level=0.9)                                 # doctest: +SKIP
"""

from bayescale import _runtime

_runtime.configure()  # before anything starts JAX: host devices for parallel chains, compile cache

from bayescale import datasets, examples, laws  # noqa: E402  isort: skip
from bayescale._version import __version__
from bayescale.compare import compare
from bayescale.fit import PREDICTION_COLUMNS, Fit, load
from bayescale.inference import ConvergenceWarning, fit
from bayescale.laws import Law, Parameter
from bayescale.laws.registry import law
from bayescale.likelihoods import LIKELIHOODS

__all__ = [
    "ConvergenceWarning",
    "Fit",
    "LIKELIHOODS",
    "Law",
    "PREDICTION_COLUMNS",
    "Parameter",
    "__version__",
    "compare",
    "datasets",
    "examples",
    "fit",
    "law",
    "laws",
    "load",
]
