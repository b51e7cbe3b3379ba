"""The public API is documented: numpydoc docstrings and return annotations.

Public callables: the functions and classes named in ``__all__`` of ``bayescale`` and of the
modules in :data:`PUBLIC_MODULES`, and the public methods (defined in the class itself, not
inherited; properties are documented as attributes) of those classes. Each has a docstring of its
own (the docs do not inherit docstrings, ``autodoc_inherit_docstrings = False``); a function or
method that takes parameters besides ``self``/``cls`` has a numpydoc ``Parameters`` section that
names exactly its parameters; and every function and method has a return annotation.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import warnings
from collections.abc import Callable
from typing import Any

import pytest

docscrape = pytest.importorskip("numpydoc.docscrape")

#: The package and the modules whose ``__all__`` is public API (``bs.<module>`` or documented on
#: their own page under docs/api/).
PUBLIC_MODULES = (
    "bayescale",
    *(f"bayescale.{name}" for name in (
        "laws", "datasets", "examples", "zoo", "law_error", "targets", "likelihoods", "priors", "plan",
        "design", "results", "grid", "plots", "calibrate", "report",
    )),
)  # fmt: skip


def public_callables() -> dict[str, Callable[..., Any]]:
    """Qualified name (``module.qualname``) to each public function, class and method."""
    found: dict[str, Callable[..., Any]] = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.ismodule(obj) or not callable(obj):
                continue
            found[f"{obj.__module__}.{obj.__qualname__}"] = obj
            if inspect.isclass(obj):
                for method_name, method in inspect.getmembers(obj, inspect.isfunction):
                    if method_name.startswith("_") or method.__qualname__.split(".")[0] != obj.__name__:
                        continue
                    found[f"{obj.__module__}.{method.__qualname__}"] = method
    return found


def _own_docstring(obj: Any) -> str | None:
    """The object's own docstring: not a base class's, not the signature a dataclass writes."""
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__")
        if doc and dataclasses.is_dataclass(obj) and doc.startswith(f"{obj.__name__}("):
            return None  # dataclasses set __doc__ to the signature when the class has none
        return doc
    return obj.__doc__


def problems(obj: Any) -> list[str]:
    """What is missing from the documentation of one public callable (empty when nothing is)."""
    doc = _own_docstring(obj)
    if not doc or not doc.strip():
        return ["no docstring"]
    if inspect.isclass(obj):
        return []
    found = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parsed = docscrape.FunctionDoc(obj, doc=inspect.cleandoc(doc))
    found += [f"numpydoc: {w.message}" for w in caught]
    signature = inspect.signature(obj)
    params = [name for name in signature.parameters if name not in ("self", "cls")]
    documented = [part.strip().lstrip("*") for entry in parsed["Parameters"] for part in entry.name.split(",")]
    if params and not parsed["Parameters"]:
        found.append(f"no numpydoc Parameters section for {params}")
    elif params:
        undocumented = [name for name in params if name not in documented]
        unknown = [name for name in documented if name not in params]
        if undocumented:
            found.append(f"Parameters section leaves out {undocumented}")
        if unknown:
            found.append(f"Parameters section names {unknown}, which the signature does not have")
    if signature.return_annotation is inspect.Signature.empty:
        found.append("no return annotation")
    return found


PUBLIC = public_callables()


def test_discovery_finds_the_public_api():
    expected = [
        "bayescale.inference.fit",
        "bayescale.fit_result.Fit",
        "bayescale.fit_result.Fit.predict",
        "bayescale.fit_result.Fit.plot",
        "bayescale.results.Posterior.posterior_draws",
        "bayescale.laws.registry.get",
        "bayescale.io.load",
        "bayescale.zoo.ZooPosterior.summary",
        "bayescale.targets.Optimum.values",
        "bayescale.plots.plot_calibration",
    ]
    assert [name for name in expected if name not in PUBLIC] == []
    assert len(PUBLIC) >= 100


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_callable_is_documented(name):
    found = problems(PUBLIC[name])
    assert not found, f"{name}: " + "; ".join(found)


# --- the check itself ------------------------------------------------------------------------
def _bare(x):
    return x


def _summary_only(x: int) -> int:
    """Return ``x``."""
    return x


def _unannotated(x):
    """Return ``x``.

    Parameters
    ----------
    x : int
        A number.
    """
    return x


def _wrong_names(x: int, y: int = 0) -> int:
    """Return ``x``.

    Parameters
    ----------
    x, z : int
        Numbers.
    """
    return x


def _complete(x: int, *, scale: float = 1.0, **options: Any) -> float:
    """Return ``x`` scaled.

    Parameters
    ----------
    x : int
        A number.
    scale : float
        The factor.
    **options
        Ignored.

    Returns
    -------
    float
    """
    return x * scale


@dataclasses.dataclass
class _Undocumented:
    value: int


class _Base:
    def method(self) -> None:
        """Documented here."""


class _Derived(_Base):
    def method(self) -> None:
        pass


def test_the_check_finds_what_is_missing():
    assert problems(_bare) == ["no docstring"]
    assert problems(_summary_only) == ["no numpydoc Parameters section for ['x']"]
    assert problems(_unannotated) == ["no return annotation"]
    assert problems(_wrong_names) == [
        "Parameters section leaves out ['y']",
        "Parameters section names ['z'], which the signature does not have",
    ]
    assert problems(_Undocumented) == ["no docstring"]
    assert problems(_Derived.method) == ["no docstring"]  # an inherited docstring does not count
    assert problems(_Base.method) == []
    assert problems(_complete) == []
