"""JAX runtime settings bayescale applies on import, each with an opt-out.

* **CPU devices for parallel chains.** JAX shows one CPU device by default, so NumPyro
  can only run chains one after another or in lock-step. Before JAX starts, bayescale
  asks XLA for ``BAYESCALE_CPU_DEVICES`` host devices (default 4, one per default chain),
  so chains run in parallel on the available cores. Nothing happens when JAX has already
  started or ``XLA_FLAGS`` already sets the count. Set ``BAYESCALE_CPU_DEVICES=1`` to opt out.
* **Persistent compilation cache.** Compiled samplers are written to
  ``BAYESCALE_JAX_CACHE`` (default ``<user cache>/bayescale/jax``) so a new Python process
  fitting the same law and data shape skips most compilation. Set ``BAYESCALE_JAX_CACHE=off``
  to opt out; a cache directory you configured in JAX yourself is left alone.
"""

from __future__ import annotations

import logging
import os
from importlib import resources
from pathlib import Path

logger = logging.getLogger("bayescale")

_DEVICE_FLAG = "--xla_force_host_platform_device_count"


def user_cache_dir() -> Path:
    """The platform's user cache directory for bayescale (``platformdirs``; on Linux
    ``$XDG_CACHE_HOME/bayescale`` or ``~/.cache/bayescale``): the JAX cache and the datasets live here."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("bayescale", appauthor=False))


#: Environment variable naming another folder of fitted models (the zoo and the learned law error).
MODELS_ENV_VAR = "BAYESCALE_ZOO_DIR"


def models_dir() -> Path:
    """The folder of fitted models (the zoo's posteriors, the learned law error):
    ``$BAYESCALE_ZOO_DIR``, else the copy packaged in the wheel, else the checkout's ``models/``."""
    env = os.environ.get(MODELS_ENV_VAR)
    if env:
        return Path(env)
    packaged = resources.files("bayescale") / "_zoo"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[1] / "models"


def request_cpu_devices() -> None:
    """Ask XLA for several host devices when JAX has not started yet."""
    count = os.environ.get("BAYESCALE_CPU_DEVICES", "4")
    flags = os.environ.get("XLA_FLAGS", "")
    if _DEVICE_FLAG in flags or not count.isdigit() or int(count) <= 1:
        return
    try:
        from jax._src import xla_bridge

        if xla_bridge.backends_are_initialized():
            return
    except (ImportError, AttributeError):  # pragma: no cover - private API moved
        return
    os.environ["XLA_FLAGS"] = f"{flags} {_DEVICE_FLAG}={int(count)}".strip()


def enable_compilation_cache() -> None:
    """Point JAX's persistent compilation cache at bayescale's cache directory."""
    import jax

    setting = os.environ.get("BAYESCALE_JAX_CACHE", "")
    if setting.lower() in ("off", "0", "false", "no") or jax.config.jax_compilation_cache_dir:  # type: ignore[attr-defined]  # not in jax.config stubs
        return
    path = Path(setting) if setting else user_cache_dir() / "jax"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # read-only home: run without the cache
        logger.info("JAX compilation cache disabled: %s", error)
        return
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def configure() -> None:
    """Apply both settings (called once from ``bayescale/__init__``)."""
    request_cpu_devices()
    enable_compilation_cache()
