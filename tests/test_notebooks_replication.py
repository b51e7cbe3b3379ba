"""Execute notebooks/chinchilla_replication.ipynb (needs the public data cache)."""

from __future__ import annotations

import os

import pytest
from conftest import REPO_ROOT, execute_notebook

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")

NOTEBOOK = REPO_ROOT / "notebooks" / "chinchilla_replication.ipynb"


@pytest.mark.slow
def test_chinchilla_replication_notebook_runs(shared_data_dir, monkeypatch):
    monkeypatch.setenv("BAYESCALE_NB_DRAWS", os.environ.get("BAYESCALE_NB_DRAWS", "300"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    execute_notebook(nb, timeout=300, path=REPO_ROOT)  # raises CellExecutionError when a cell (the final asserts too) fails
    outputs = "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", []))
    assert "Hoffmann et al.: d2 =" in outputs
