"""The registry of public datasets: for each, the upstream repository, the commit and the sha256
of every file it reads (pinned), its citation and licence, and its reader
(:mod:`bayescale.dataset_readers`). :mod:`bayescale.datasets` downloads, verifies and loads them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from bayescale.dataset_readers import (
    read_chinchilla,
    read_clip_mammut_segmentation,
    read_datablations,
    read_loss_to_loss,
    read_nsl,
    read_obs_scaling,
    read_openclip,
    read_openeurollm,
    read_overtraining,
    read_overtraining_downstream,
    read_porian_isoflops,
)

__all__ = ["ENTRIES", "GITHUB_RAW", "Dataset"]

GITHUB_RAW = "https://raw.githubusercontent.com"

Loader = Callable[[Mapping[str, Path]], pd.DataFrame]


@dataclass(frozen=True)
class Dataset:
    """One registered dataset: where its files come from and how to read them.

    Parameters
    ----------
    name : str
        Registry key passed to :func:`load`.
    description : str
        One line: what was measured and the shape of the table.
    citation : str
        The paper(s) to cite when using the data.
    licence : str
        The upstream repository's licence (``"none stated"`` when it has none).
    repo : str
        ``"owner/name"`` of the upstream GitHub repository.
    commit : str
        The 40-hex commit the files are pinned to.
    files : Mapping[str, str]
        Path inside the repository -> expected sha256 (hex) of every file read.
    loader : callable
        ``loader(paths)`` with ``paths`` mapping each repository path to its local
        file; returns the tidy DataFrame.
    rows : int
        Number of rows :func:`load` returns (checked by the test suite).
    base_url : str
        Root of the raw-file URLs; GitHub's raw host unless a test or a mirror
        overrides it.
    """

    name: str
    description: str
    citation: str
    licence: str
    repo: str
    commit: str
    files: Mapping[str, str]
    loader: Loader
    rows: int
    base_url: str = GITHUB_RAW

    @property
    def folder(self) -> str:
        """Cache sub-folder, ``<owner>__<repo>``."""
        return self.repo.replace("/", "__")

    def url(self, path: str) -> str:
        """Pinned download URL of ``path`` (a path inside the repository).

        Parameters
        ----------
        path : str
            A path inside the repository, e.g. a key of :attr:`files`.

        Returns
        -------
        str
            ``<base_url>/<repo>/<commit>/<path>``.
        """
        return f"{self.base_url}/{self.repo}/{self.commit}/{path}"

    @property
    def source(self) -> tuple[str, ...]:
        """Pinned URLs of every file the dataset reads."""
        return tuple(self.url(p) for p in sorted(self.files))


# ----------------------------------------------------------------------- registry

#: Repository, commit and sha256 of every file of each dataset, kept as data (``dataset_files.json``).
_PINNED: dict[str, dict] = json.loads(resources.files("bayescale").joinpath("dataset_files.json").read_text())


def _pinned(name: str) -> dict:
    """``repo``, ``commit`` and ``files`` (path -> sha256) of dataset ``name``, from ``dataset_files.json``."""
    pinned = _PINNED[name]
    return {"repo": pinned["repo"], "commit": pinned["commit"], "files": MappingProxyType(dict(pinned["files"]))}


_CITE_GADRE = (
    "Gadre, S. Y., Smyrnis, G., Shankar, V., et al. (2024). Language models scale reliably "
    "with over-training and on downstream tasks. arXiv:2403.08540."
)
_CITE_NSL = (
    "Alabdulmohsin, I., Neyshabur, B., Zhai, X. (2022). Revisiting neural scaling laws in "
    "language and vision. NeurIPS 2022, arXiv:2209.06640. Benchmark files as redistributed "
    "in github.com/DongWooLee-Eli/nslpfn (Lee et al. 2025, NSL-PFN)."
)

ENTRIES: tuple[Dataset, ...] = (
    Dataset(
        name="chinchilla",
        description=(
            "Chinchilla Approach-3 runs digitised from Hoffmann et al.'s Figure 4: N, D = C/(6N), C, final "
            "loss."
        ),
        citation=(
            "Hoffmann, J., et al. (2022). Training compute-optimal large language models. arXiv:2203.15556. "
            "Data: Besiroglu, T., Erdil, E., Barnett, M., You, J. (2024). Chinchilla scaling: a replication "
            "attempt. arXiv:2404.10102."
        ),
        licence="none stated",
        loader=read_chinchilla,
        rows=245,
        **_pinned("chinchilla"),
    ),
    Dataset(
        name="overtraining",
        description=(
            "Gadre et al. 2024 open_lm runs on C4/RedPajama/RefinedWeb, one row per run: N, D, C = 6ND, "
            "tokens per parameter relative to Chinchilla (chinchilla_multiplier), C4-eval loss (with 95% "
            "bounds) and 7 more validation losses."
        ),
        citation=_CITE_GADRE,
        licence="MIT",
        loader=read_overtraining,
        rows=104,
        **_pinned("overtraining"),
    ),
    Dataset(
        name="overtraining_downstream",
        description=(
            "Gadre et al. 2024 downstream evaluations, one row per run x task (46 tasks): accuracy, error, "
            "random-chance baseline, and the run's N, D, C, chinchilla_multiplier, C4-eval loss."
        ),
        citation=_CITE_GADRE,
        licence="MIT",
        loader=read_overtraining_downstream,
        rows=4784,
        **_pinned("overtraining_downstream"),
    ),
    Dataset(
        name="datablations",
        description=(
            "Muennighoff et al. 2023 data-constrained runs: final C4 validation loss with N, D, C = 6ND, "
            "unique tokens U and epochs D/U."
        ),
        citation=(
            "Muennighoff, N., Rush, A. M., Barak, B., Le Scao, T., Piktus, A., Tazi, N., Pyysalo, S., Wolf, "
            "T., Raffel, C. (2023). Scaling data-constrained language models. NeurIPS 2023, arXiv:2305.16264."
        ),
        licence="Apache-2.0",
        loader=read_datablations,
        rows=296,
        **_pinned("datablations"),
    ),
    Dataset(
        name="obs_scaling",
        description=(
            "Ruan et al. 2024 observational scaling: public base LLMs x 8 benchmarks, one row per (model, "
            "task) score, with family, N, D and C where published."
        ),
        citation=(
            "Ruan, Y., Maddison, C. J., Hashimoto, T. (2024). Observational scaling laws and the "
            "predictability of language model performance. arXiv:2405.10938."
        ),
        licence="Apache-2.0",
        loader=read_obs_scaling,
        rows=1144,
        **_pinned("obs_scaling"),
    ),
    Dataset(
        name="nsl_lang",
        description=(
            "Alabdulmohsin et al. 2022 learning-curve extrapolation benchmark, language part: loss vs "
            "examples seen per (domain, task, model), with the train flag."
        ),
        citation=_CITE_NSL,
        licence="MIT",
        loader=read_nsl,
        rows=1399,
        **_pinned("nsl_lang"),
    ),
    Dataset(
        name="nsl_vision",
        description=(
            "Alabdulmohsin et al. 2022 learning-curve extrapolation benchmark, vision part: few-shot loss vs "
            "examples seen per (domain, task, model), with the train flag."
        ),
        citation=_CITE_NSL,
        licence="MIT",
        loader=read_nsl,
        rows=18883,
        **_pinned("nsl_vision"),
    ),
    Dataset(
        name="openclip",
        description=(
            "Cherti et al. 2023 OpenCLIP (and OpenAI CLIP) zero-shot results: one row per (checkpoint, "
            "downstream task) with N, samples seen D, compute C, top-1 accuracy."
        ),
        citation=(
            "Cherti, M., Beaumont, R., Wightman, R., Wortsman, M., Ilharco, G., Gordon, C., Schuhmann, C., "
            "Schmidt, L., Jitsev, J. (2023). Reproducible scaling laws for contrastive language-image "
            "learning. CVPR 2023, arXiv:2212.07143."
        ),
        licence="none stated",
        loader=read_openclip,
        rows=1312,
        **_pinned("openclip"),
    ),
    Dataset(
        name="clip_mammut_segmentation",
        description=(
            "Nezhurina et al. 2025 CLIP vs MaMMUT (family) trained on DataComp-1B: ADE20K segmentation mIoU "
            "across N, samples seen D and compute C."
        ),
        citation=(
            "Nezhurina, M., et al. (2025). Scaling laws for robust comparison of open foundation language-"
            "vision models and datasets."
        ),
        licence="none stated",
        loader=read_clip_mammut_segmentation,
        rows=1431,
        **_pinned("clip_mammut_segmentation"),
    ),
    Dataset(
        name="porian_isoflops",
        description=(
            "Porian et al. 2024 isoFLOP points on RefinedWeb and OpenWebText2 for several parameter counts, "
            "warmups, decay schedules and hyper-parameter settings."
        ),
        citation=(
            "Porian, T., Wortsman, M., Jitsev, J., Schmidt, L., Carmon, Y. (2024). Resolving discrepancies in"
            " compute-optimal scaling of language models. NeurIPS 2024, arXiv:2406.19146."
        ),
        licence="MIT",
        loader=read_porian_isoflops,
        rows=1745,
        **_pinned("porian_isoflops"),
    ),
    Dataset(
        name="loss_to_loss",
        description=(
            "Brandfonbrener et al. 2024 loss-to-loss sweep: C4 validation loss of 529 isoFLOP runs (6 "
            "pretraining sets x 8 budgets 2e17-4.84e19 FLOPs, 20M-1.74B parameters; split='sweep') and one "
            "3.3B, 1e21-FLOP run per set (split='extrapolation'); C is the isoFLOP budget."
        ),
        citation=(
            "Brandfonbrener, D., Anand, N., Vyas, N., Malach, E., Kakade, S. (2024). Loss-to-loss prediction:"
            " scaling laws for all datasets. arXiv:2411.12925."
        ),
        licence="none stated",
        loader=read_loss_to_loss,
        rows=535,
        **_pinned("loss_to_loss"),
    ),
    Dataset(
        name="openeurollm",
        description=(
            "OpenEuroLLM dense English scaling-law runs: validation loss after the learning-rate anneal, one "
            "row per run over N (50M-1.7B), D (6B-300B), learning rate, batch size, beta2."
        ),
        citation=(
            "OpenEuroLLM (2025). Dense English scaling laws, "
            "https://github.com/OpenEuroLLM/dense_english_scaling_laws (checkpoints on Hugging Face "
            "openeurollm/dense_english_scaling_laws)."
        ),
        licence="none stated",
        loader=read_openeurollm,
        rows=909,
        **_pinned("openeurollm"),
    ),
)
