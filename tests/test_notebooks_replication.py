"""Execute notebooks/chinchilla_replication.ipynb (needs the public data cache)."""

from __future__ import annotations

import os

import pytest
from conftest import REPO_ROOT

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = REPO_ROOT / "notebooks" / "chinchilla_replication.ipynb"


@pytest.mark.slow
def test_chinchilla_replication_notebook_runs(shared_data_dir, monkeypatch):
    monkeypatch.setenv("BAYESCALE_NB_DRAWS", os.environ.get("BAYESCALE_NB_DRAWS", "300"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(REPO_ROOT)}})
    client.execute()  # raises CellExecutionError when a cell (including the final asserts) fails
    outputs = "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", []))
    assert "Hoffmann et al.: d2 =" in outputs
