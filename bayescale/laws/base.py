"""The Law abstraction: named inputs, parameters with sourced priors, and a JAX mean function.

A law knows nothing about groups, likelihoods or samplers. It declares

* its inputs (positive physical quantities by default: parameters ``N``, tokens ``D``,
  FLOPs ``C``, steps, samples seen),
* its parameters, each with a default prior (a NumPyro distribution) and the
  literature source of that prior,
* a pure mean function ``mean(**inputs, **params)`` written in ``jax.numpy``, and
  optionally ``log_mean`` (the same quantity in log space, written with ``logaddexp``
  for numerical stability when the likelihood works on log ``y``),
* the formula as text, a reference, and whether lower or higher ``y`` is better.

Power-law coefficients can declare a *pivot* ``(input, exponent)``: the sampler then
works with the coefficient's term evaluated at the data's centre instead of the raw
coefficient. The model is unchanged (the change of variables is a shear with unit
Jacobian), only the posterior geometry improves; see :mod:`bayescale.hierarchy`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.distributions import constraints

InputDomain = Literal["positive", "nonnegative", "real"]

#: Names a law may not use: the likelihoods' noise parameters and the observed site.
RESERVED_NAMES = frozenset({"sigma", "nu", "kappa", "excess", "tuned", "y", "obs"})


@dataclass(frozen=True)
class Parameter:
    """One parameter of a law.

    Parameters
    ----------
    name : str
        Name used in the mean function, in ``priors=`` and in the posterior.
    prior : numpyro.distributions.Distribution
        Default prior on the parameter's natural scale. Its support decides the
        unconstrained space the hierarchy works in (log for positive parameters,
        logit for unit-interval ones, identity for real ones).
    source : str
        Where the prior comes from (paper, table or figure and the measured values).
    pivot : tuple of (str, str or float), optional
        ``(input, k)``: the sampler works with ``P_c = P * input_c**(-k)``, the parameter
        rescaled to the centre ``input_c`` of the data (geometric mean). For the coefficient
        ``A`` of a term ``A * input**(-alpha)`` use ``k="alpha"`` (``P_c`` is then the term's
        value at the centre); for a location on the input axis use ``k=1``. ``k`` names another
        parameter or is a number. The model is the same either way; only sampling improves.
    prior_at : {"natural", "centre"}
        Whether ``prior`` is on the parameter itself or, for pivoted parameters, on its
        value at the centre of the data. Use "centre" when the input has no universal unit.
    description : str
        One line on what the parameter means.
    """

    name: str
    prior: dist.Distribution
    source: str = ""
    pivot: tuple[str, str | float] | None = None
    prior_at: Literal["natural", "centre"] = "natural"
    description: str = ""

    def __post_init__(self) -> None:
        if self.prior_at not in ("natural", "centre"):
            raise ValueError(f"parameter {self.name!r}: prior_at must be 'natural' or 'centre', got {self.prior_at!r}")
        if self.prior_at == "centre" and self.pivot is None:
            raise ValueError(f"parameter {self.name!r}: prior_at='centre' needs a pivot=(input, k)")


@dataclass(frozen=True)
class Law:
    """A scaling law: inputs, parameters with priors, and a mean function in JAX.

    Parameters
    ----------
    name : str
        Registry name (``bs.laws.get(name)``).
    inputs : tuple of str
        Input names, in the order the mean function documents them.
    params : tuple of Parameter
        Parameters with default priors.
    mean : callable
        ``mean(**inputs, **params) -> y``, pure ``jax.numpy``, broadcasting over arrays.
    log_mean : callable, optional
        ``log_mean(**inputs, **params) -> log y``; defaults to ``log(mean(...))``.
        Write it with ``jnp.logaddexp`` for sums of power terms.
    formula : str
        The formula as text, e.g. ``"L = E + A / N^alpha + B / D^beta"``.
    reference : str
        The paper the law comes from.
    lower_is_better : bool
        True for losses and errors, False for accuracies.
    input_domains : mapping of str to {"positive", "nonnegative", "real"}
        Allowed values of each input; inputs not listed are positive.
    description : str
        One paragraph on when to use the law.
    compute_optimal : callable, optional
        Closed-form compute-optimal allocation for laws of ``N`` and ``D``:
        ``compute_optimal(C, **params) -> (N, D)`` with ``C`` of shape ``(budgets,)``, parameters of
        shape ``(draws,)`` and results ``(draws, budgets)``, pure ``jax.numpy``.
        :func:`bayescale.optimal.optimal_draws` uses it when present and searches numerically otherwise.
    floor : tuple of (str, str), optional
        ``(E, A)`` for a law ``y = E + A * g(x)`` with a floor ``E`` and a pivoted coefficient
        ``A`` (both positive, and the pivot exponent too when it is a parameter): the sampler then
        moves the curve's value ``E + A_c``, the floor's share of it and the slope ``alpha A_c``
        at the centre of the data (for ``power``; the pivot's exponent ``alpha``), which the data
        pin or leave to the prior one at a time, instead of ``E``, ``A_c`` and ``alpha``, which
        trade off along a curved ridge when the floor is far below the data or the curve has not
        bent yet. The priors and the model are unchanged (the prior is carried over with its
        Jacobian); only the geometry NUTS sees changes. Used when ``E`` and ``A`` do not vary by
        group (see :func:`bayescale.hierarchy.sample_floor_pair`).
    target_accept_prob : float, optional
        The law's default NUTS target acceptance probability, where its posteriors need smaller
        steps than bayescale's 0.95 (:data:`bayescale.sampler.TARGET_ACCEPT`); a fit's own
        ``target_accept_prob=`` overrides it.
    """

    name: str
    inputs: tuple[str, ...]
    params: tuple[Parameter, ...]
    mean: Callable[..., jnp.ndarray]
    log_mean: Callable[..., jnp.ndarray] | None = None
    formula: str = ""
    reference: str = ""
    lower_is_better: bool = True
    input_domains: Mapping[str, InputDomain] = field(default_factory=dict)
    description: str = ""
    compute_optimal: Callable[..., tuple[jnp.ndarray, jnp.ndarray]] | None = None
    floor: tuple[str, str] | None = None
    target_accept_prob: float | None = None

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"law {self.name!r}: parameter names must be unique, got {names}")
        reserved = sorted(set(names) & RESERVED_NAMES)
        if reserved:
            raise ValueError(
                f"law {self.name!r}: parameter names {reserved} are reserved for the likelihood's noise "
                f"parameters and the observation ({sorted(RESERVED_NAMES)}); rename them"
            )
        clash = set(names) & set(self.inputs)
        if clash:
            raise ValueError(
                f"law {self.name!r}: {sorted(clash)} are both inputs and parameters; rename one"
            )
        for p in self.params:
            if p.pivot is None:
                continue
            pivot_input, exponent = p.pivot
            if pivot_input not in self.inputs:
                raise ValueError(
                    f"law {self.name!r}: parameter {p.name!r} pivots on {pivot_input!r}, "
                    f"which is not an input ({list(self.inputs)})"
                )
            if isinstance(exponent, str) and exponent not in names:
                raise ValueError(
                    f"law {self.name!r}: parameter {p.name!r} pivots on exponent {exponent!r}, "
                    f"which is not a parameter ({names})"
                )
            if isinstance(exponent, str) and self.param(exponent).pivot is not None:
                raise ValueError(
                    f"law {self.name!r}: the pivot exponent {exponent!r} of {p.name!r} is itself pivoted; "
                    "pivot only coefficients and locations"
                )
            if self.domain(pivot_input) != "positive":
                raise ValueError(f"law {self.name!r}: pivot input {pivot_input!r} must be positive")
        if self.floor is not None:
            self._check_floor(names)

    def _check_floor(self, names: list[str]) -> None:
        assert self.floor is not None
        floor, term = self.floor
        if floor not in names or term not in names:
            raise ValueError(f"law {self.name!r}: floor={self.floor!r} must name two of its parameters {names}")
        if self.param(floor).pivot is not None or self.param(term).pivot is None:
            raise ValueError(
                f"law {self.name!r}: floor=({floor!r}, {term!r}) needs an unpivoted floor {floor!r} and a "
                f"pivoted coefficient {term!r}"
            )
        pivot = self.param(term).pivot
        exponent = pivot[1] if pivot is not None else None
        for name in (*self.floor, *([exponent] if isinstance(exponent, str) else [])):
            if self.param(name).prior.support is not constraints.positive:
                raise ValueError(f"law {self.name!r}: floor={self.floor!r} needs a prior on (0, inf) for {name!r}")

    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of the law's parameters, in declaration order."""
        return tuple(p.name for p in self.params)

    def param(self, name: str) -> Parameter:
        """The :class:`Parameter` called ``name``.

        Parameters
        ----------
        name : str
            A parameter of the law.

        Returns
        -------
        Parameter

        Raises
        ------
        KeyError
            If the law has no parameter ``name`` (the message lists those it has).
        """
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"law {self.name!r} has no parameter {name!r}; it has {list(self.param_names)}")

    def domain(self, input_name: str) -> InputDomain:
        """Allowed values of an input ("positive" unless the law says otherwise).

        Parameters
        ----------
        input_name : str
            An input of the law.

        Returns
        -------
        {"positive", "nonnegative", "real"}
            From :attr:`input_domains`; ``"positive"`` for an input not listed there.
        """
        return self.input_domains.get(input_name, "positive")

    def evaluate(self, **values: jnp.ndarray) -> jnp.ndarray:
        """The law's mean ``y`` at the given inputs and parameters.

        Parameters
        ----------
        **values
            Every input and parameter by name, as ``jax.numpy`` arrays or numbers (broadcast together).

        Returns
        -------
        jax.Array
            ``mean(**values)``.
        """
        return self.mean(**values)

    def evaluate_log(self, **values: jnp.ndarray) -> jnp.ndarray:
        """``log y``, through ``log_mean`` when the law has one.

        Parameters
        ----------
        **values
            Every input and parameter by name, as ``jax.numpy`` arrays or numbers (broadcast together).

        Returns
        -------
        jax.Array
            ``log_mean(**values)``, else ``log(mean(**values))``.
        """
        if self.log_mean is not None:
            return self.log_mean(**values)
        return jnp.log(self.mean(**values))

    def describe(self) -> str:
        """A few lines of text: formula, parameters with priors and sources, reference."""
        lines = [f"{self.name}: {self.formula}", f"  inputs: {', '.join(self.inputs)}"]
        for p in self.params:
            src = f"  [{p.source}]" if p.source else ""
            lines.append(f"  {p.name} ~ {prior_text(p.prior)}{src}")
        lines.append(f"  better: {'lower' if self.lower_is_better else 'higher'}")
        if self.reference:
            lines.append(f"  reference: {self.reference}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td><code>{p.name}</code></td><td>{prior_text(p.prior)}</td><td>{p.source}</td></tr>"
            for p in self.params
        )
        return (
            f"<b>{self.name}</b>: <code>{self.formula}</code><br>inputs: {', '.join(self.inputs)}"
            f"<table><tr><th>parameter</th><th>prior</th><th>source</th></tr>{rows}</table>"
            f"<small>{self.reference}</small>"
        )


def prior_text(prior: dist.Distribution) -> str:
    """Short text of a distribution, e.g. ``LogNormal(loc=-1.05, scale=0.3)``; a shifted one is
    written as such, e.g. ``1 + Gamma(concentration=2, rate=0.1)``.

    Parameters
    ----------
    prior : Distribution
        A NumPyro distribution (possibly a ``TransformedDistribution`` by affine transforms).

    Returns
    -------
    str
        The distribution's class name and constructor arguments (3 significant digits).
    """
    transforms = getattr(prior, "transforms", None)
    base = getattr(prior, "base_dist", None)
    if transforms and base is not None and all(type(t).__name__ == "AffineTransform" for t in transforms):
        text = prior_text(base)
        for t in transforms:
            loc, scale = float(t.loc), float(t.scale)
            text = f"{loc:g} + {text}" if scale == 1.0 else f"{loc:g} + {scale:g} {text}"
        return text
    args = []
    for key in getattr(prior, "arg_constraints", {}):
        value = getattr(prior, key, None)
        if value is None:
            continue
        try:
            args.append(f"{key}={float(value):.3g}")
        except (TypeError, ValueError):
            args.append(f"{key}=...")
    return f"{type(prior).__name__}({', '.join(args)})"


def make_law(
    name: str,
    inputs: Sequence[str],
    params: Mapping[str, dist.Distribution | Parameter],
    mean: Callable[..., jnp.ndarray],
    **metadata,
) -> Law:
    """Build a :class:`Law` from plain pieces (used by :func:`bayescale.law`).

    The mean function must accept every input and parameter as a keyword argument.
    """
    parameters = tuple(
        value if isinstance(value, Parameter) else Parameter(key, value, source="user prior")
        for key, value in params.items()
    )
    for key, value in params.items():
        if isinstance(value, Parameter) and value.name != key:
            raise ValueError(f"params[{key!r}] is a Parameter named {value.name!r}; use the same name")
        if not isinstance(value, (Parameter, dist.Distribution)):
            raise TypeError(
                f"params[{key!r}] must be a numpyro distribution (its prior), got {type(value).__name__}; "
                f"e.g. params={{{key!r}: dist.LogNormal(0.0, 1.0)}}"
            )
    _check_signature(name, mean, [*inputs, *params])
    return Law(name=name, inputs=tuple(inputs), params=parameters, mean=mean, **metadata)


def _check_signature(name: str, fn: Callable, required: Sequence[str]) -> None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins, jitted functions
        return
    accepts_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    if accepts_kwargs:
        return
    missing = [r for r in required if r not in signature.parameters]
    if missing:
        raise TypeError(
            f"law {name!r}: the mean function does not accept {missing}; "
            f"it must take every input and parameter as a keyword argument ({list(required)})"
        )
