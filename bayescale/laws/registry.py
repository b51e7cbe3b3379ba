"""Registry of laws by name: ``bs.laws.list()``, ``bs.laws.get(name)``, and ``bs.law(...)``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import jax.numpy as jnp
import numpyro.distributions as dist
import pandas as pd

from bayescale.laws.base import Law, Parameter, make_law

_REGISTRY: dict[str, Law] = {}


def register(law: Law, *, overwrite: bool = False) -> Law:
    """Add ``law`` to the registry under ``law.name`` and return it.

    Parameters
    ----------
    law : Law
        The law to register.
    overwrite : bool
        Replace another law registered under the same name (registering the same law
        again is always allowed).

    Returns
    -------
    Law
        ``law``.

    Raises
    ------
    TypeError
        If ``law`` is not a :class:`~bayescale.Law`.
    ValueError
        If the name is taken by another law and ``overwrite`` is False.
    """
    if not isinstance(law, Law):
        raise TypeError(f"register() takes a Law, got {type(law).__name__}")
    if law.name in _REGISTRY and not overwrite and _REGISTRY[law.name] is not law:
        raise ValueError(
            f"a law named {law.name!r} is already registered; pick another name or pass overwrite=True"
        )
    _REGISTRY[law.name] = law
    return law


def get(name: str | Law) -> Law:
    """The law registered as ``name`` (a :class:`~bayescale.Law` is returned unchanged).

    Parameters
    ----------
    name : str or Law
        A registered name (``bs.laws.list()``), or a law.

    Returns
    -------
    Law

    Raises
    ------
    KeyError
        If no law has that name; the message lists the registered names.
    """
    if isinstance(name, Law):
        return name
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"law={name!r} is not registered; registered laws: {sorted(_REGISTRY)}. "
            "Define your own with bs.law(name, inputs, params, mean)."
        ) from None


def list() -> pd.DataFrame:  # noqa: A001 - the public name the API promises
    """All registered laws: name, inputs, parameters, formula, direction and reference.

    Examples
    --------
    >>> import bayescale as bs
    >>> "chinchilla" in bs.laws.list()["name"].tolist()
    True
    """
    rows = [
        {
            "name": law.name,
            "inputs": ", ".join(law.inputs),
            "params": ", ".join(law.param_names),
            "formula": law.formula,
            "better": "lower" if law.lower_is_better else "higher",
            "reference": law.reference,
        }
        for law in _REGISTRY.values()
    ]
    return pd.DataFrame(rows, columns=["name", "inputs", "params", "formula", "better", "reference"])


def law(
    name: str,
    inputs: Sequence[str],
    params: Mapping[str, dist.Distribution | Parameter],
    mean: Callable[..., jnp.ndarray] | None = None,
    *,
    log_mean: Callable[..., jnp.ndarray] | None = None,
    formula: str = "",
    reference: str = "",
    lower_is_better: bool = True,
    input_domains: Mapping[str, str] | None = None,
    description: str = "",
    overwrite: bool = False,
) -> Law | Callable[[Callable[..., jnp.ndarray]], Law]:
    """Define and register your own law from a plain JAX function.

    Parameters
    ----------
    name : str
        Registry name; refit with ``bs.fit(df, law=name, ...)``.
    inputs : sequence of str
        Input names (columns are mapped onto them with ``inputs=`` in :func:`bayescale.fit`).
    params : mapping of str to numpyro Distribution
        Parameter name to its prior.
    mean : callable, optional
        ``mean(**inputs, **params)`` in ``jax.numpy``. Omit it to use ``law`` as a decorator.
    log_mean, formula, reference, lower_is_better, input_domains, description
        See :class:`bayescale.Law`.
    overwrite : bool
        Replace a law registered under the same name.

    Returns
    -------
    Law
        The registered law (or a decorator returning it).

    Examples
    --------
    >>> import bayescale as bs, numpyro.distributions as dist
    >>> @bs.law("saturating", inputs=["x"],
    ...         params={"E": dist.LogNormal(0.0, 1.0), "A": dist.LogNormal(0.0, 1.0),
    ...                 "alpha": dist.LogNormal(-1.0, 0.5)}, overwrite=True)
    ... def saturating(x, E, A, alpha):
    ...     return E + A * x ** -alpha
    >>> saturating.inputs
    ('x',)
    """

    def build(fn: Callable[..., jnp.ndarray]) -> Law:
        new = make_law(
            name,
            inputs,
            params,
            fn,
            log_mean=log_mean,
            formula=formula or f"{name}({', '.join(inputs)})",
            reference=reference,
            lower_is_better=lower_is_better,
            input_domains=dict(input_domains or {}),
            description=description or (fn.__doc__ or "").strip(),
        )
        return register(new, overwrite=overwrite)

    if mean is None:
        return build
    return build(mean)
