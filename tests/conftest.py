"""Shared fixtures: point the dataset cache at ``../shared/data`` when it exists."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

if "BAYESCALE_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["BAYESCALE_DATA_DIR"] = str(SHARED_DATA)


def _shared_data_dir() -> Path | None:
    path = os.environ.get("BAYESCALE_DATA_DIR")
    return Path(path) if path and Path(path).is_dir() else None


#: Memory regions mapped by the test process past which a module's end frees compiled programs.
MAPPED_REGIONS_BEFORE_RELEASE = 30_000


def _mapped_regions() -> int | None:
    """How many memory regions this process maps (None where ``/proc`` is absent)."""
    try:
        with open("/proc/self/maps") as maps:
            return sum(1 for _ in maps)
    except OSError:
        return None


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Free compiled XLA programs after a test module once the process maps many memory regions:
    each program maps ~1,500 and a process may hold 65,530 (vm.max_map_count), fewer than the
    whole suite compiles. Below that the programs stay, so the next module that fits the same
    model on data of the same padded shape compiles nothing."""
    yield
    regions = _mapped_regions()
    if regions is None or regions > MAPPED_REGIONS_BEFORE_RELEASE:
        from bayescale.sampler import release_compiled

        release_compiled()


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The public data cache; skips the test when it is absent."""
    path = _shared_data_dir()
    if path is None:
        pytest.skip("public data cache absent: set BAYESCALE_DATA_DIR to a copy of ../shared/data")
    return path


# --- small fits shared by the core tests (fixed seeds, few draws) ------------------------------
FAST = {"chains": 2, "draws": 300, "warmup": 300, "seed": 1, "progress": False}
CHINCHILLA_TRUTH = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}


@pytest.fixture(scope="session")
def ladder():
    import bayescale as bs

    return bs.examples.load("chinchilla_ladder")


@pytest.fixture(scope="session")
def ladder_fit(ladder):
    import bayescale as bs

    return bs.fit(ladder, law="chinchilla", y="loss", inputs={"N": "params", "D": "tokens"}, **FAST)


@pytest.fixture(scope="session")
def three_datasets():
    import bayescale as bs

    return bs.examples.load("three_datasets")


@pytest.fixture(scope="session")
def hierarchical_fit(three_datasets):
    import bayescale as bs

    return bs.fit(
        three_datasets,
        law="chinchilla",
        y="loss",
        inputs={"N": "params", "D": "tokens"},
        hierarchy={"E": "dataset", "A": "dataset"},  # as generated: data/make_data.py
        **FAST,
    )


def pytest_xdist_auto_num_workers(config) -> int:
    """Workers for ``-n auto`` (the default, pyproject.toml): one per CPU this process may use, at
    most 4 (each worker holds its own JAX runtime and compiled programs, ~2 GB)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


#: The message of a kernel that failed to start (two kernels started at once by the two test
#: workers can draw the same TCP port: "Address already in use"); the run is then tried again.
_KERNEL_START_FAILED = "Kernel died before replying to kernel_info"


def execute_notebook(book, *, timeout: int, path: Path, attempts: int = 3) -> None:
    """Run every cell of ``book`` in a fresh ``python3`` kernel working in ``path``. A kernel that
    fails to start is started again (up to ``attempts`` times); a failing cell raises at once."""
    nbclient = pytest.importorskip("nbclient")
    for attempt in range(1, attempts + 1):
        client = nbclient.NotebookClient(book, timeout=timeout, kernel_name="python3",
                                         resources={"metadata": {"path": str(path)}})  # fmt: skip
        try:
            client.execute()
            return
        except RuntimeError as error:
            if _KERNEL_START_FAILED not in str(error) or attempt == attempts:
                raise
