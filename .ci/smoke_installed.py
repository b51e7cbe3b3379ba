"""Smoke test of an installed bayescale wheel, run by .ci/run from a folder outside the source tree.

Checks that the package comes from site-packages (not the checkout), that the data folded into the
wheel (``data/`` as ``bayescale/_embedded``, ``models/`` as ``bayescale/_zoo``) loads from there,
and that the console script and ``python -m bayescale`` answer.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import bayescale as bs

package = Path(bs.__file__).resolve().parent
assert "site-packages" in package.parts, f"bayescale imported from {package}, not from an installed wheel"
source_tree = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else None
assert source_tree is None or source_tree not in package.parents, f"{package} is inside the checkout {source_tree}"
print(f"bayescale {bs.__version__} from {package}")

assert (package / "py.typed").is_file(), "py.typed missing from the wheel"
assert bs.plots.STYLE.is_file() and bs.plots.STYLE.parent == package, "the style sheet is missing from the wheel"
assert bs.examples.data_dir().resolve() == package / "_embedded", bs.examples.data_dir()
for name in bs.examples.list()["name"]:
    frame = bs.examples.load(name)
    assert len(frame) > 0, name
    print(f"example {name}: {len(frame)} rows")

assert bs.zoo.zoo_dir().resolve() == package / "_zoo", bs.zoo.zoo_dir()
entries = bs.zoo.list()
assert len(entries) > 0, "the zoo is empty"
for name in entries["name"]:
    bs.zoo.load(name)
print(f"zoo: {len(entries)} reference posteriors load")

law_error = bs.law_error.default()
print(f"learned law error: {law_error!r}"[:200])
assert len(bs.laws.list()) > 0

console_script = str(Path(sys.executable).parent / "bayescale")  # the script of this environment
for command in ([console_script, "--version"], [sys.executable, "-m", "bayescale", "--version"]):
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    assert out == bs.__version__, (command, out)
help_text = subprocess.run([sys.executable, "-m", "bayescale", "--help"], capture_output=True, text=True, check=True)
assert help_text.stdout.startswith("usage: bayescale"), help_text.stdout[:200]
print("console script and python -m bayescale answer")
