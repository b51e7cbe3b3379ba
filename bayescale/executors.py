"""Executors for :func:`bayescale.fit_many`: where the chunks of keys run.

``executor="local"`` (in :mod:`bayescale.many`) runs the chunks one after another in this
process. ``executor="ray"`` (here) sends every chunk to a Ray task, so a cluster's machines
sample different chunks at once; the draws come back to the caller and are gathered into the
same :class:`~bayescale.many.ManyFits` collection. A chunk's random keys are fixed by the seed
and the keys' positions, so with the same ``chunk_size`` the draws equal the in-process run's
(the same compiled program on the same kind of CPU gives the same floating-point results).

References
----------
Moritz, P. et al. (2018). Ray: A Distributed Framework for Emerging AI Applications. OSDI 2018.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

logger = logging.getLogger("bayescale")


def _ray():
    try:
        import ray
    except ImportError:
        raise ImportError(
            "executor='ray' needs Ray: install it with `pip install 'bayescale[ray]'` (or `pip install ray`), "
            "or use executor='local'"
        ) from None
    return ray


def run_chunks_ray(
    run: Callable, spec, settings, chunks: Sequence, n_devices: int, device: str | None, *, address: str | None = None
):
    """Run ``run(spec, settings, chunk, n_devices, device)`` on every chunk as a Ray task; results in chunk order.

    Parameters
    ----------
    run : callable
        The function each task runs, :func:`bayescale.curves.run_chunk` for :func:`bayescale.fit_many`
        (passed in, so that this module imports nothing of the package and the caller's module is
        not imported back). It must be a module-level function, so that Ray can ship it.
    spec, settings, chunks, n_devices, device
        As prepared by :func:`bayescale.fit_many`.
    address : str, optional
        Passed to ``ray.init(address=...)`` when Ray is not initialised yet (e.g. ``"auto"`` or
        ``"ray://head:10001"``); None starts a local Ray instance. An already initialised Ray
        (``ray.init(...)`` called by the user) is used as it is.
    """
    ray = _ray()
    if not ray.is_initialized():
        logger.info("fit_many: starting Ray (address=%r)", address)
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    remote = ray.remote(num_cpus=1)(run)
    spec_ref = ray.put(spec)
    futures = [remote.remote(spec_ref, settings, chunk, n_devices, device) for chunk in chunks]
    return ray.get(futures)
