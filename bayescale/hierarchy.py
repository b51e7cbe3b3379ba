"""The builder: a Law, a grouping spec and a likelihood become one NumPyro model.

Every parameter of the law lives in an unconstrained space chosen by the support of its
prior (log for positive parameters, logit for unit-interval ones, identity for real
ones). A parameter that varies by grouping columns is

    u[row] = u_population + sum over columns c of  tau_{p,c} * z_{p,c}[level of row in c]
    z_{p,c} ~ Normal(0, 1),   tau_{p,c} ~ HalfNormal(0.3)

(partial pooling; several columns add up). The offsets are sampled non-centred as above,
or centred (``offset ~ Normal(0, tau)``) for grouping columns whose levels each have
enough rows to pin their own value; see :func:`centered_columns`. Sites in the posterior:

* ``p``: the population value of each law parameter, under the law's own name;
* ``p_<column>``: the value for each level of ``column`` (a dimension named ``column``),
  the other groupings at their population value;
* ``p_<column>_sd`` and ``p_<column>_z``: the spread and the standardised offsets
  (plus ``p_<column>_offset`` when centred);
* ``p_c``: for a pivoted parameter (see :class:`bayescale.laws.Parameter`), its value rescaled
  to the centre of the data, which is what the sampler moves. Group offsets of a pivoted
  parameter are applied at the centre of the data (the groups differ in level there);
* for a law with a floor pair (``power``): ``E_plus_A_c``, ``E_share`` and ``A_slope_c``, which the
  sampler moves instead of ``E``, ``A_c`` and ``alpha`` (deterministic then; see
  :mod:`bayescale.floor_pair`);
* the likelihood's noise parameters (``sigma``, ``nu`` or ``kappa``).

An unseen level (prediction) draws its offsets from the population distribution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions.transforms import biject_to

from bayescale.floor_pair import level_pair_parameters, sample_floor_pair, sample_level_floor_pair
from bayescale.laws.base import Law, Parameter
from bayescale.likelihoods import Likelihood

DEFAULT_GROUP_SD = dist.HalfNormal(0.3)


@dataclass(frozen=True)
class ModelSpec:
    """Everything that fixes the structure of the NumPyro model (not the data values).

    Parameters
    ----------
    law : Law
    likelihood : Likelihood
    grouping : tuple of (str, tuple of str)
        Parameter name to the grouping columns it varies by (grouped parameters only).
    n_levels : tuple of (str, int)
        Grouping column to its number of levels.
    priors : tuple of (str, Distribution)
        Resolved prior of every law parameter, noise parameter and group spread.
    """

    law: Law
    likelihood: Likelihood
    grouping: tuple[tuple[str, tuple[str, ...]], ...]
    n_levels: tuple[tuple[str, int], ...]
    priors: tuple[tuple[str, dist.Distribution], ...]
    centered: tuple[str, ...] = ()

    @cached_property
    def groups_of(self) -> dict[str, tuple[str, ...]]:
        """Parameter name to its grouping columns (empty tuple when not grouped)."""
        lookup = dict(self.grouping)
        return {name: lookup.get(name, ()) for name in self.law.param_names}

    @cached_property
    def prior_of(self) -> dict[str, dist.Distribution]:
        """Site name to prior."""
        return dict(self.priors)

    @cached_property
    def levels_of(self) -> dict[str, int]:
        """Grouping column to number of levels."""
        return dict(self.n_levels)

    @cached_property
    def floor_pair(self) -> tuple[str, str] | None:
        """The law's ``floor`` pair when it is reparameterised (neither parameter grouped; see
        :func:`bayescale.floor_pair.sample_floor_pair`)."""
        pair = self.law.floor
        if pair is None or any(self.groups_of[name] for name in pair):
            return None
        return pair

    @cached_property
    def level_floor_pair(self) -> str | None:
        """The grouping column whose levels each sample the law's ``floor`` pair (value, floor share
        and slope at the centre; :func:`bayescale.floor_pair.sample_level_floor_pair`): when the
        floor, the pivoted coefficient (prior at the centre) and its exponent all vary by that one
        column and by nothing else."""
        pair = self.law.floor
        if pair is None:
            return None
        floor, term = pair
        pivot = self.law.param(term).pivot
        exponent = pivot[1] if pivot is not None else None
        if not isinstance(exponent, str) or self.law.param(term).prior_at != "centre":
            return None
        columns = {self.groups_of[name] for name in (floor, term, exponent)}
        if len(columns) != 1:
            return None
        (only,) = columns
        return only[0] if len(only) == 1 else None

    @cached_property
    def floor_slope(self) -> str | None:
        """The floor pair's exponent when it is sampled as the slope at the centre (not grouped)."""
        if self.floor_pair is None:
            return None
        pivot = self.law.param(self.floor_pair[1]).pivot
        exponent = pivot[1] if pivot is not None else None
        return exponent if isinstance(exponent, str) and not self.groups_of[exponent] else None

    @property
    def group_columns(self) -> tuple[str, ...]:
        """Every grouping column used, in first-use order."""
        return tuple(col for col, _ in self.n_levels)

    def fingerprint(self, prior_values: bool = True) -> tuple:
        """A hashable key of the structure, used to reuse compiled programs.

        With ``prior_values=False`` the priors enter by their family and parameter layout only:
        the key of a program that takes the priors' parameters as data (:func:`bayescale.sampler.run`).
        """
        priors = (
            tuple((name, distribution_key(prior)) for name, prior in self.priors)
            if prior_values
            else tuple((name, distribution_layout(prior)) for name, prior in self.priors)
        )
        return (self.law.name, id(self.law), self.likelihood.name, self.grouping, self.n_levels, self.centered, priors)


def distribution_key(prior: dist.Distribution) -> tuple:
    """A hashable key of a distribution (its type and parameter values), for compile caches."""
    leaves, treedef = jax.tree_util.tree_flatten(prior)
    return (type(prior).__name__, str(treedef), tuple(np.asarray(leaf).tobytes() for leaf in leaves))


def distribution_layout(prior: dist.Distribution) -> tuple:
    """A hashable key of a distribution's family and parameter shapes and dtypes, not their values."""
    leaves, treedef = jax.tree_util.tree_flatten(prior)
    return (type(prior).__name__, str(treedef), tuple((np.shape(leaf), str(jnp.result_type(leaf))) for leaf in leaves))


def prior_parameters(prior: dist.Distribution) -> dict:
    """The data fields of ``prior`` by name (a nested dict for a distribution inside it).

    NumPyro flattens a distribution's fields in the order of a Python ``set`` of their names,
    which changes with each process's string-hash seed: passed to a compiled program as the
    distribution itself, the same prior became differently ordered arguments in another
    process, so JAX's persistent compilation cache missed. A dict is flattened in key order, the
    same in every process. :func:`with_parameters` puts the fields back.
    """
    names = type(prior).gather_pytree_data_fields()
    values, _ = prior.tree_flatten()
    return {name: prior_parameters(v) if isinstance(v, dist.Distribution) else v for name, v in zip(names, values, strict=True)}


def with_parameters(prior: dist.Distribution, parameters: Mapping) -> dist.Distribution:
    """``prior`` (the family and static fields) with its data fields taken from ``parameters``,
    laid out as :func:`prior_parameters` lays them out (traced values inside a compiled program)."""
    names = type(prior).gather_pytree_data_fields()
    values, aux = prior.tree_flatten()
    fields = tuple(
        with_parameters(v, parameters[name]) if isinstance(v, dist.Distribution) else parameters[name]
        for name, v in zip(names, values, strict=True)
    )
    return type(prior).tree_unflatten(aux, fields)


def resolve_grouping(
    law: Law, groups: str | Sequence[str] | None, hierarchy: Mapping[str, str | Sequence[str] | None] | None
) -> dict[str, tuple[str, ...]]:
    """Parameter name to grouping columns, from ``groups=`` (all parameters) and ``hierarchy=``.

    Raises
    ------
    ValueError
        For a ``hierarchy`` key that is not a parameter of the law.
    """

    def as_tuple(value: str | Sequence[str] | None) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        return tuple(value)

    grouping = {name: as_tuple(groups) for name in law.param_names}
    for name, value in (hierarchy or {}).items():
        if name not in law.param_names:
            raise ValueError(
                f"hierarchy={{{name!r}: ...}}: {name!r} is not a parameter of law {law.name!r}; "
                f"its parameters are {list(law.param_names)}"
            )
        grouping[name] = as_tuple(value)
    return {name: cols for name, cols in grouping.items() if cols}


def resolve_priors(
    law: Law,
    likelihood: Likelihood,
    grouping: Mapping[str, tuple[str, ...]],
    overrides: Mapping[str, dist.Distribution] | None,
) -> dict[str, dist.Distribution]:
    """Default priors of every site, with ``overrides`` applied.

    Raises
    ------
    ValueError
        For an override whose name is not a site of the model (the message lists the valid names).
    TypeError
        For an override that is not a numpyro distribution.
    """
    priors: dict[str, dist.Distribution] = {p.name: p.prior for p in law.params}
    priors.update(likelihood.noise_priors)
    for name, columns in grouping.items():
        for column in columns:
            priors[f"{name}_{column}_sd"] = DEFAULT_GROUP_SD
    for name, prior in (overrides or {}).items():
        if name not in priors:
            raise ValueError(
                f"priors={{{name!r}: ...}}: {name!r} is not a parameter of this model; "
                f"valid names are {sorted(priors)}"
            )
        if not isinstance(prior, dist.Distribution):
            raise TypeError(
                f"priors[{name!r}] must be a numpyro distribution, got {type(prior).__name__}; "
                f"e.g. priors={{{name!r}: dist.LogNormal(0.0, 1.0)}}"
            )
        _check_support(law, name, prior, priors[name])
        priors[name] = prior
    for parameter in law.params:
        if parameter.pivot is not None and priors[parameter.name].support is not constraints.positive:
            raise ValueError(
                f"priors[{parameter.name!r}] must have positive support (e.g. LogNormal): the parameter "
                "is a pivoted coefficient sampled on the log scale"
            )
    return priors


def _check_support(law: Law, name: str, new: dist.Distribution, default: dist.Distribution) -> None:
    if name in law.param_names and type(new.support) is not type(default.support):
        raise ValueError(
            f"priors[{name!r}] has support {new.support}, but {name!r} lives on {default.support}; "
            f"use a distribution on the same support as the default {type(default).__name__}"
        )


def build_spec(
    law: Law,
    likelihood: Likelihood,
    grouping: Mapping[str, tuple[str, ...]],
    levels: Mapping[str, Sequence[str]],
    priors: Mapping[str, dist.Distribution],
    centered: Sequence[str] = (),
) -> ModelSpec:
    """Freeze the structure into a :class:`ModelSpec`; ``centered`` lists centred grouping columns."""
    columns: list[str] = []
    for cols in grouping.values():
        columns += [c for c in cols if c not in columns]
    return ModelSpec(
        law=law,
        likelihood=likelihood,
        grouping=tuple((name, tuple(cols)) for name, cols in grouping.items()),
        n_levels=tuple((column, len(levels[column])) for column in columns),
        priors=tuple(priors.items()),
        centered=tuple(c for c in columns if c in centered),
    )


#: Fewest levels of a grouping column that ``parameterization="auto"`` samples centred.
MIN_CENTRED_LEVELS = 3


def centered_columns(
    parameterization: str, group_index: Mapping[str, np.ndarray], n_levels: Mapping[str, int], n_params: int
) -> tuple[str, ...]:
    """Grouping columns whose offsets are sampled centred.

    ``"noncentered"``: none; ``"centered"``: all; ``"auto"``: the columns with at least
    ``MIN_CENTRED_LEVELS`` levels in which every level has more rows than the law has
    parameters. Such groups pin their own values, and there the non-centred form bends the
    posterior into a curved ridge (on the three-corpus example, 141 leapfrog steps per draw
    against 17 centred); with few rows per level the centred form has the funnel and the
    non-centred one is better. With two levels the data say almost nothing about the
    between-group sd, and the centred form has the funnel however many rows each level has:
    CLIP vs MaMMUT (20 and 19 rows, ``power`` law, 4 x 500 draws) gave 276 divergent
    transitions and r_hat 1.09 centred, none and r_hat 1.03 non-centred.
    """
    if parameterization not in ("auto", "centered", "noncentered"):
        raise ValueError(
            f"parameterization={parameterization!r} must be 'auto', 'centered' or 'noncentered'"
        )
    if parameterization == "noncentered":
        return ()
    if parameterization == "centered":
        return tuple(group_index)
    return tuple(
        column
        for column, codes in group_index.items()
        if n_levels[column] >= MIN_CENTRED_LEVELS and np.bincount(codes, minlength=n_levels[column]).min() > n_params
    )


def _site(parameter: Parameter) -> str:
    """Name of the sampled site of a parameter (``p_c`` for pivoted ones, else ``p``)."""
    return f"{parameter.name}_c" if parameter.pivot is not None else parameter.name


def _pivot_scale(spec: ModelSpec, parameter: Parameter, values: Mapping[str, jnp.ndarray], centres) -> jnp.ndarray:
    """``k * centre`` for a pivoted parameter, with ``k`` a number or another parameter's value."""
    assert parameter.pivot is not None, f"{parameter.name} has no pivot"
    pivot_input, exponent = parameter.pivot
    k = values[exponent] if isinstance(exponent, str) else exponent
    return k * centres[pivot_input]


def parameter_values(
    spec: ModelSpec,
    sites: Mapping[str, jnp.ndarray],
    group_index: Mapping[str, jnp.ndarray],
    centres: Mapping[str, jnp.ndarray],
) -> tuple[dict[str, jnp.ndarray], dict[str, jnp.ndarray]]:
    """Law parameter values per row and at the population level, from sampled site values.

    Parameters
    ----------
    sites : mapping
        Values of the sampled sites (population values, ``_c`` sites, ``_sd`` and ``_z`` arrays).
    group_index : mapping
        Grouping column to integer level codes per row.
    centres : mapping
        Input name to the centre used by pivots.

    Returns
    -------
    per_row, population : dict, dict
        Parameter name to values per row (or scalars when not grouped), and to population values.
    """
    law = spec.law
    population: dict[str, jnp.ndarray] = {}
    per_row: dict[str, jnp.ndarray] = {}
    # Non-pivoted parameters first: pivots may depend on them through their exponent.
    ordered = sorted(law.params, key=lambda p: p.pivot is not None)
    for parameter in ordered:
        name = parameter.name
        bijector = biject_to(spec.prior_of[name].support)
        u = bijector.inv(sites[_site(parameter)]) if parameter.pivot is None else jnp.log(sites[_site(parameter)])
        u_row = u + sum(
            (sites[f"{name}_{col}_sd"] * sites[f"{name}_{col}_z"][group_index[col]] for col in spec.groups_of[name]),
            start=jnp.zeros(()),
        )
        if parameter.pivot is None:
            population[name] = sites[name]
            per_row[name] = bijector(u_row) if spec.groups_of[name] else population[name]
        else:
            population[name] = jnp.exp(u + _pivot_scale(spec, parameter, population, centres))
            per_row[name] = jnp.exp(u_row + _pivot_scale(spec, parameter, per_row, centres))
    return per_row, population


def level_values(spec: ModelSpec, sites: Mapping[str, jnp.ndarray], centres) -> dict[str, jnp.ndarray]:
    """Value of each grouped parameter at each level of each of its columns (``p_<column>``)."""
    levels: dict[str, dict[str, jnp.ndarray]] = {}
    out: dict[str, jnp.ndarray] = {}
    ordered = sorted(spec.law.params, key=lambda p: p.pivot is not None)
    for parameter in ordered:
        name = parameter.name
        levels[name] = {}
        for column in spec.groups_of[name]:
            offset = sites[f"{name}_{column}_sd"] * sites[f"{name}_{column}_z"]
            if parameter.pivot is None:
                bijector = biject_to(spec.prior_of[name].support)
                value = bijector(bijector.inv(sites[name]) + offset)
            else:
                pivot_input, exponent = parameter.pivot
                # The exponent's value at this level when it varies by the same column, else its
                # population value (exponents are never pivoted themselves; Law checks that).
                k = levels[exponent].get(column, sites[exponent]) if isinstance(exponent, str) else exponent
                value = jnp.exp(jnp.log(sites[_site(parameter)]) + offset + k * centres[pivot_input])
            levels[name][column] = value
            out[f"{name}_{column}"] = value
    return out


def sample_law(spec: ModelSpec) -> dict[str, jnp.ndarray]:
    """Sample the law's sites inside a NumPyro model: population values (``p``, or ``p_c`` for
    pivoted parameters), and for grouped parameters ``p_<column>_sd`` and the offsets
    (``p_<column>_z``, non-centred, or ``p_<column>_offset`` with ``p_<column>_z`` deterministic,
    centred; see :func:`centered_columns`).

    Every model bayescale builds starts with this call; :func:`law_values` turns its result into
    per-row parameter values. A law's ``floor`` pair is sampled as the curve's value, the floor's
    share and the slope at the centre (see :func:`bayescale.floor_pair.sample_floor_pair`), and so
    is each level's when the pair and its exponent vary by one column alone
    (:func:`bayescale.floor_pair.sample_level_floor_pair`).
    """
    pair = spec.floor_pair
    sites: dict[str, jnp.ndarray] = sample_floor_pair(spec, *pair) if pair else {}
    by_level = spec.level_floor_pair
    for parameter in spec.law.params:
        prior = spec.prior_of[parameter.name]
        if _site(parameter) in sites or parameter.name in sites:
            continue  # the floor pair; never grouped
        if by_level is not None and parameter.name in level_pair_parameters(spec):
            # the spread as below; the levels, then the population value, come after the loop
            sd_name = f"{parameter.name}_{by_level}_sd"
            sites[sd_name] = numpyro.sample(sd_name, spec.prior_of[sd_name])
            continue
        if parameter.pivot is None:
            sites[parameter.name] = numpyro.sample(parameter.name, prior)
        elif parameter.prior_at == "centre":
            sites[_site(parameter)] = numpyro.sample(_site(parameter), prior)
        else:
            flat = dist.ImproperUniform(constraints.positive, (), ())
            sites[_site(parameter)] = numpyro.sample(_site(parameter), flat)
        for column in spec.groups_of[parameter.name]:
            sd_name, z_name = f"{parameter.name}_{column}_sd", f"{parameter.name}_{column}_z"
            sites[sd_name] = numpyro.sample(sd_name, spec.prior_of[sd_name])
            with numpyro.plate(column, spec.levels_of[column]):
                if column in spec.centered:
                    offset = numpyro.sample(f"{parameter.name}_{column}_offset", dist.Normal(0.0, sites[sd_name]))
                    sites[z_name] = numpyro.deterministic(z_name, offset / sites[sd_name])
                else:
                    sites[z_name] = numpyro.sample(z_name, dist.Normal(0.0, 1.0))
    if by_level is not None:
        sites.update(sample_level_floor_pair(spec, by_level, sites))
    return sites


def law_values(
    spec: ModelSpec,
    sites: Mapping[str, jnp.ndarray],
    group_index: Mapping[str, jnp.ndarray],
    centres: Mapping[str, jnp.ndarray],
) -> dict[str, jnp.ndarray]:
    """Inside a NumPyro model, after :func:`sample_law`: the law's parameter values per row.

    Also records the natural value of each pivoted parameter (``p``) and of each grouped parameter
    at each level (``p_<column>``) as deterministic sites, and adds the prior of pivoted parameters
    whose prior is on the natural scale (``prior_at="natural"``).
    """
    per_row, population = parameter_values(spec, sites, group_index, centres)
    for parameter in spec.law.params:
        if parameter.pivot is None:
            continue
        numpyro.deterministic(parameter.name, population[parameter.name])
        if parameter.prior_at == "natural":
            # Prior on the natural coefficient P = P_c * exp(k c): log p_P(P) + log P - log P_c
            # (the shear between log P_c and log P has unit Jacobian).
            scale = _pivot_scale(spec, parameter, population, centres)
            numpyro.factor(
                f"{parameter.name}_prior", spec.prior_of[parameter.name].log_prob(population[parameter.name]) + scale
            )
    for name, value in level_values(spec, sites, centres).items():
        numpyro.deterministic(name, value)
    return per_row


def make_model(spec: ModelSpec):
    """The NumPyro model function of ``spec``.

    The returned function has the signature ``model(inputs, group_index, centres, y=None,
    trials=None)`` (``trials``: each run's number of questions, for the count likelihoods): all
    data are arguments (not closed over), so one compiled sampler serves every dataset of the
    same shape. Models with further observed stages (:func:`bayescale.fit_downstream`)
    are built from the same pieces: :func:`sample_law`, the noise sites, :func:`law_values`
    and :func:`curve_location`.
    """
    likelihood = spec.likelihood

    def model(inputs, group_index, centres, y=None, trials=None):
        sites = sample_law(spec)
        noise = {name: numpyro.sample(name, spec.prior_of[name]) for name in likelihood.noise_names}
        per_row = law_values(spec, sites, group_index, centres)
        location = curve_location(spec, inputs, per_row)
        n = next(iter(inputs.values())).shape[0]
        with numpyro.plate("obs", n):
            numpyro.sample("y", likelihood.distribution(location, noise, trials), obs=y)

    return model


def curve_location(spec: ModelSpec, inputs: Mapping[str, jnp.ndarray], params: Mapping[str, jnp.ndarray]):
    """The curve on the likelihood's scale: ``log mu`` for log-space likelihoods, else ``mu``."""
    if spec.likelihood.log_space:
        return spec.law.evaluate_log(**inputs, **params)
    return spec.law.evaluate(**inputs, **params)


def prior_sites(spec: ModelSpec, centres: Mapping[str, float], n_draws: int, seed: int) -> dict[str, np.ndarray]:
    """Draws from the priors alone of the sites :func:`sampled_site_names` lists, ``(n_draws, ...)``.

    A pivoted parameter's draws are of its value at ``centres`` (``p_c``): drawn there when its
    prior is at the centre, else drawn on the natural scale and moved to the centre. Group offsets
    are standard normal; spreads and noise parameters come from their priors.
    """
    keys = iter(jax.random.split(jax.random.PRNGKey(seed), 4 * len(spec.prior_of) + 4))

    def draw(prior: dist.Distribution, shape: tuple[int, ...] = ()) -> np.ndarray:
        return np.asarray(prior.sample(next(keys), (n_draws, *shape)), dtype=np.float64)

    sites: dict[str, np.ndarray] = {}
    for parameter in sorted(spec.law.params, key=lambda p: p.pivot is not None):  # exponents first
        value = draw(spec.prior_of[parameter.name])
        if parameter.pivot is not None and parameter.prior_at == "natural":
            pivot_input, exponent = parameter.pivot
            k = sites[exponent] if isinstance(exponent, str) else exponent
            value = value * np.exp(-k * float(centres[pivot_input]))
        sites[_site(parameter)] = value
        for column in spec.groups_of[parameter.name]:
            sites[f"{parameter.name}_{column}_sd"] = draw(spec.prior_of[f"{parameter.name}_{column}_sd"])
            sites[f"{parameter.name}_{column}_z"] = draw(dist.Normal(0.0, 1.0), (spec.levels_of[column],))
    for name in spec.likelihood.noise_names:
        sites[name] = draw(spec.prior_of[name])
    return sites


def sampled_site_names(spec: ModelSpec) -> list[str]:
    """Names of the latent sites needed to recompute the curve (for prediction)."""
    names = []
    for parameter in spec.law.params:
        names.append(_site(parameter))
        for column in spec.groups_of[parameter.name]:
            names += [f"{parameter.name}_{column}_sd", f"{parameter.name}_{column}_z"]
    return names + list(spec.likelihood.noise_names)
