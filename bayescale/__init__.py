"""bayescale: Bayesian scaling laws with hierarchical NumPyro models.

>>> import bayescale as bs
>>> df = bs.examples.load("three_datasets")
>>> fit = bs.fit(df, law="chinchilla", y="loss", inputs={"N": "params", "D": "tokens"},
...              hierarchy={"E": "dataset", "A": "dataset"})          # doctest: +SKIP
>>> fit.predict(df.head(), level=0.9)                                 # doctest: +SKIP
"""

from bayescale import _runtime

_runtime.configure()  # before anything starts JAX: host devices for parallel chains, compile cache

from bayescale import datasets, examples, law_error, laws, results, targets, zoo  # noqa: E402  isort: skip
from bayescale._version import __version__
from bayescale.averaging import AveragedFit, average
from bayescale.comparison import LOOWarning, compare
from bayescale.crossovers import Crossover, crossover
from bayescale.design import next_runs
from bayescale.downstream import fit_downstream
from bayescale.downstream_fit import DownstreamFit, compare_downstream
from bayescale.fit_result import PREDICTION_COLUMNS, Fit, NewGroupWarning
from bayescale.inference import ConvergenceWarning, fit
from bayescale.io import load
from bayescale.isoflops import near_optimal
from bayescale.law_error import ExtrapolationWarning, LawError
from bayescale.laws import Law, Parameter
from bayescale.laws.registry import law
from bayescale.likelihoods import LIKELIHOODS
from bayescale.many import ManyFits, fit_many
from bayescale.multiplier import ComputeMultiplier, compute_multiplier
from bayescale.optimal import AllocationWarning, allocation_exponents, compute_optimal
from bayescale.plan import plan_ladder
from bayescale.plots import plot_calibration
from bayescale.ranking import Ranking, rank
from bayescale.shapes import accelerated_emergence, prob_monotone, saturation_budget, turning_point
from bayescale.task_check import check_tasks

__all__ = [
    "AllocationWarning",
    "AveragedFit",
    "ComputeMultiplier",
    "ConvergenceWarning",
    "Crossover",
    "DownstreamFit",
    "ExtrapolationWarning",
    "Fit",
    "LIKELIHOODS",
    "LOOWarning",
    "Law",
    "LawError",
    "ManyFits",
    "NewGroupWarning",
    "PREDICTION_COLUMNS",
    "Parameter",
    "Ranking",
    "__version__",
    "accelerated_emergence",
    "allocation_exponents",
    "average",
    "check_tasks",
    "compare",
    "compare_downstream",
    "compute_multiplier",
    "compute_optimal",
    "crossover",
    "datasets",
    "examples",
    "fit",
    "fit_downstream",
    "fit_many",
    "law",
    "law_error",
    "laws",
    "load",
    "near_optimal",
    "next_runs",
    "plan_ladder",
    "plot_calibration",
    "prob_monotone",
    "rank",
    "results",
    "saturation_budget",
    "targets",
    "turning_point",
    "zoo",
]
