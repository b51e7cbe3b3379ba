"""bayescale: Bayesian scaling laws with hierarchical NumPyro models."""

from bayescale._version import __version__

__all__ = ["__version__"]
