"""Sphinx extension: write the pages generated from the code (the law catalogue, the CLI help).

At ``builder-inited`` (before Sphinx reads the sources) it imports bayescale, walks
``bayescale.laws.list()`` and writes one entry per registered law to ``guide/catalogue.rst``
in the source folder: formula, inputs, direction of "better", reference, and each parameter's
default prior, meaning and the source of the prior. The laws are grouped by the module that
defines them, with that module's References section. The file is generated on every build and
git-ignored; it is rewritten only when its text changes, so an unchanged registry does not make
Sphinx reread the page.

It also writes, git-ignored too, ``guide/cli_reference.md`` (``bayescale --help`` and the help of
every subcommand, from the argument parser in ``bayescale/cli.py``) and ``guide/likelihood_table.inc``
(the likelihoods of ``bs.LIKELIHOODS`` with their noise priors, and each one's model from the
docstring of ``bayescale.likelihoods``), which ``guide/likelihoods.md`` includes.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

#: Where the catalogue page goes, relative to the source folder (git-ignored).
TARGET = Path("guide") / "catalogue.rst"
#: The command-line reference page, from the argument parser (git-ignored).
CLI_TARGET = Path("guide") / "cli_reference.md"
#: The table of likelihoods, included by guide/likelihoods.md (git-ignored; not a page of its own).
LIKELIHOOD_TARGET = Path("guide") / "likelihood_table.inc"

_ENTRY_START = re.compile(r"^[^()]{1,80}\(\d{4}[a-z]?\)\.")
_RST_SPECIAL = re.compile(r"([\\*_`|<>\[\]])")


def _text(value: str) -> str:
    """Plain text for reStructuredText: ``code`` spans kept as literals, the rest escaped."""
    parts = str(value).split("`")
    out = []
    for i, part in enumerate(parts):
        if i % 2 and part.strip() and len(parts) % 2:  # inside a matched pair of backticks
            out.append(_literal(part))
        else:
            out.append(_RST_SPECIAL.sub(r"\\\1", part))
    return "".join(out).strip()


def _literal(value: str) -> str:
    """An inline literal; text that a literal cannot hold falls back to escaped text."""
    value = " ".join(str(value).split())
    if not value or "``" in value:
        return _RST_SPECIAL.sub(r"\\\1", value)
    return f"``{value}``"


def _heading(title: str, char: str) -> list[str]:
    return [title, char * len(title), ""]


def _references(module) -> list[str]:
    """The lines of a module docstring's numpydoc References section."""
    doc = inspect.getdoc(module) or ""
    match = re.search(r"^References\n-+\n(.*?)(?:\n\S[^\n]*\n-+\n|\Z)", doc, flags=re.S | re.M)
    if not match:
        return []
    entries: list[str] = []
    for line in match.group(1).splitlines():
        if not line.strip():
            continue
        # an entry opens with its authors and year, "Name, A. et al. (2024). Title..."; a wrapped
        # line (flush left in these docstrings) continues the entry before it
        if entries and not _ENTRY_START.match(line.strip()):
            entries[-1] += " " + line.strip()
        else:
            entries.append(line.strip())
    return entries


def _family_title(module) -> str:
    """The first line of the module docstring, without a trailing period."""
    first = (inspect.getdoc(module) or module.__name__).strip().splitlines()[0]
    return first.rstrip(".")


def _law_entry(law) -> list[str]:
    lines = _heading(law.name, "~")
    if law.description:
        lines += [_text(law.description), ""]
    lines += [".. code-block:: text", "", f"   {law.formula}", ""]
    inputs = ", ".join(
        name if law.domain(name) == "positive" else f"{name} ({law.domain(name)})" for name in law.inputs
    )
    fields = [
        ("inputs", _literal(inputs)),
        ("better", "lower" if law.lower_is_better else "higher"),
    ]
    if law.reference:
        fields.append(("reference", _text(law.reference)))
    if law.compute_optimal is not None:
        fields.append(("compute-optimal", "closed form (used by ``bs.compute_optimal``)"))
    if law.floor is not None:
        fields.append(("sampled as", f"floor pair {_literal(', '.join(law.floor))}"))
    if law.target_accept_prob is not None:
        fields.append(("NUTS target acceptance", f"{law.target_accept_prob:g} by default"))
    lines += [f":{key}: {value}" for key, value in fields]
    lines += [
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 12 22 30 36",
        "",
        "   * - parameter",
        "     - default prior",
        "     - meaning",
        "     - source of the prior",
    ]
    from bayescale.laws.base import prior_text

    for p in law.params:
        prior = prior_text(p.prior)
        if p.pivot is not None and p.prior_at == "centre":
            prior += " at the data centre"
        lines += [
            f"   * - {_literal(p.name)}",
            f"     - {_literal(prior)}",
            f"     - {_text(p.description) or '-'}",
            f"     - {_text(p.source) or '-'}",
        ]
    return [*lines, "", ""]


def catalogue_text() -> str:
    """The whole page, from the registry as bayescale imports it."""
    import bayescale as bs

    names = bs.laws.list()["name"].tolist()
    families: dict[str, list] = {}
    for name in names:
        law = bs.laws.get(name)
        families.setdefault(law.mean.__module__, []).append(law)

    lines = [
        ".. This page is generated by docs/_ext/generated_pages.py from bayescale.laws at build time.",
        "   Do not edit it: edit the laws (bayescale/laws/) and rebuild.",
        "",
        ".. _law-catalogue:",
        "",
        *_heading("The law catalogue", "="),
        f"The registry holds {len(names)} laws (``bs.laws.list()``), grouped here by the module that "
        "defines them. For each: the formula, its inputs (positive unless marked), whether lower or "
        "higher values of ``y`` are better, the paper it comes from, and every parameter's default "
        "prior with the published values behind it (:doc:`/priors` discusses them). "
        "``bs.laws.get(name).describe()`` and ``bayescale laws NAME`` print the same facts.",
        "",
        "A prior marked *at the data centre* is placed on the parameter rescaled to the geometric "
        "mean of its input in the data (a pivoted coefficient); the model is the same, only its "
        "units are those of the data.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 22 28 50",
        "",
        "   * - law",
        "     - inputs",
        "     - family",
    ]
    for module_name, laws in families.items():
        for law in laws:
            lines += [
                f"   * - :ref:`{law.name} <law-{law.name}>`",
                f"     - {_literal(', '.join(law.inputs))}",
                f"     - {_literal(module_name)}",
            ]
    lines.append("")
    for module_name, laws in families.items():
        module = importlib.import_module(module_name)
        lines += _heading(_text(_family_title(module)), "-")
        lines += [f"Defined in ``{module_name}``.", ""]
        references = _references(module)
        if references:
            lines += ["References:", ""]
            lines += [f"* {_text(entry)}" for entry in references]
            lines.append("")
        for law in laws:
            lines += [f".. _law-{law.name}:", "", *_law_entry(law)]
    return "\n".join(lines).rstrip() + "\n"


def _docstring_bullets(module) -> dict[str, str]:
    """``* ``name``: text`` bullets of a module docstring, by name (continuation lines joined)."""
    bullets: dict[str, str] = {}
    current = None
    for line in (inspect.getdoc(module) or "").splitlines():
        match = re.match(r"^\* ``([a-z_]+)``(.*)$", line)
        if match:
            current = match.group(1)
            bullets[current] = match.group(2).lstrip(" :")
        elif current and line.startswith("  ") and line.strip():
            bullets[current] += " " + line.strip()
        else:
            current = None
    return bullets


def likelihood_table_text() -> str:
    """A table of ``bs.LIKELIHOODS``: the model (from the module docstring) and the noise priors."""
    import bayescale as bs
    from bayescale import likelihoods
    from bayescale.laws.base import prior_text

    models = _docstring_bullets(likelihoods)
    lines = [
        ".. Generated by docs/_ext/generated_pages.py from bayescale.LIKELIHOODS and the docstring of",
        "   bayescale.likelihoods; do not edit.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 14 50 22 14",
        "",
        "   * - ``likelihood=``",
        "     - model",
        "     - noise parameters and their default priors",
        "     - values of ``y``",
    ]
    for name, likelihood in bs.LIKELIHOODS.items():
        noise = "; ".join(f"``{key}`` ~ {_literal(prior_text(prior))}" for key, prior in likelihood.noise_priors.items())
        # the docstring's own references are relative to bayescale.likelihoods
        model = re.sub(r":(class|func|data):`(\w+)`", r":\1:`~bayescale.likelihoods.\2`", models.get(name, "-"))
        if getattr(likelihood, "counts", False):
            values = "proportions in [0, 1] of ``trials``"
        else:
            values = "positive" if likelihood.support == "positive" else "in (0, 1)"
        lines += [
            f"   * - ``{name}``",
            f"     - {model}",
            f"     - {noise or 'none'}",
            f"     - {values}",
        ]
    return "\n".join(lines) + "\n"


def cli_help_text() -> str:
    """``bayescale --help`` and the help of every subcommand, from the parser in bayescale/cli.py."""
    import argparse
    import os

    from bayescale.cli import build_parser

    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal width; fix it for the page
    try:
        parser = build_parser()
        blocks = [("bayescale --help", parser.format_help())]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                blocks += [(f"bayescale {name} --help", sub.format_help()) for name, sub in action.choices.items()]
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    lines = [
        "<!-- Generated by docs/_ext/generated_pages.py from bayescale.cli.build_parser(); do not edit. -->",
        "",
        "# Command-line reference",
        "",
        "The help of `bayescale` and of each of its commands, as `bayescale COMMAND --help` prints it. "
        "{doc}`cli` introduces the commands.",
        "",
    ]
    for title, text in blocks:
        lines += [f"## `{title}`", "", "```text", text.rstrip(), "```", ""]
    return "\n".join(lines)


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` unless it already holds exactly that (keeps Sphinx's cache valid)."""
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def write_pages(app) -> None:
    src = Path(app.srcdir)
    _write(src / TARGET, catalogue_text())
    _write(src / CLI_TARGET, cli_help_text())
    _write(src / LIKELIHOOD_TARGET, likelihood_table_text())


def setup(app):
    app.connect("builder-inited", write_pages)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
