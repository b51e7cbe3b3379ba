"""Execute the decision notebooks (downstream, crossover, compute-optimal, law comparison, honest
extrapolation, decisions for labs, design) on real data.

Each notebook ends with an assert cell on its real-data figures (with tolerances), so a notebook whose
conclusion changes fails here. Marked slow: ``.ci/run`` runs them under ``CI=true`` after the fast suite.
"""

import os
from pathlib import Path

import pytest
from conftest import execute_notebook

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["downstream.ipynb", "crossover.ipynb", "compute_optimal.ipynb", "law_comparison.ipynb",
         "honest_extrapolation.ipynb", "decisions_for_labs.ipynb", "design.ipynb"]


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_executes(name, shared_data_dir, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    monkeypatch.setenv("BAYESCALE_NB_DRAWS", os.environ.get("BAYESCALE_NB_DRAWS", "300"))
    monkeypatch.setenv("BAYESCALE_DATA_DIR", str(shared_data_dir))
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    execute_notebook(book, timeout=900, path=tmp_path)
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert any(c.get("outputs") for c in book.cells if c.cell_type == "code")


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_committed_notebooks_are_clean(path):
    """No stderr output (warnings, progress bars) and no local path of the machine that ran them."""
    import json
    import re

    book = json.loads(path.read_text())
    outputs = [o for c in book["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    stderr = [o for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    assert not stderr, f"{path.name}: clear the stderr outputs: {''.join(stderr[0]['text'])[:200]!r}"
    local = re.compile(r"(/work/|/tmp/|/home/|/root/|/Users/|[A-Z]:\\\\Users)")
    texts = [json.dumps(o.get("text", "")) + json.dumps(o.get("data", {}).get("text/plain", "")) for o in outputs]
    leaked = [t for t in texts if local.search(t)]
    assert not leaked, f"{path.name}: an output shows a local path: {leaked[0][:200]}"
