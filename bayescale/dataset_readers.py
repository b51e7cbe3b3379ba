"""Readers of the public datasets' upstream files: each turns the pinned files of one dataset
(:mod:`bayescale.dataset_registry`) into the tidy table :func:`bayescale.datasets.load` returns,
with the canonical columns first (:data:`CANONICAL`).
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from bayescale.data import tokens_for_compute, training_compute

# Canonical columns, in the order they are placed first in every table.
CANONICAL = ("N", "D", "C", "chinchilla_multiplier", "loss", "accuracy", "error", "miou", "family", "dataset", "task")


# ------------------------------------------------------------------------ helpers


def tidy(df: pd.DataFrame, sort: builtins.list[str] | None = None) -> pd.DataFrame:
    """Canonical columns first, then the rest in their given order; fresh index."""
    first = [c for c in CANONICAL if c in df.columns]
    df = df[first + [c for c in df.columns if c not in first]]
    if sort:
        df = df.sort_values(sort, kind="stable")
    return df.reset_index(drop=True)


def only_file(paths: Mapping[str, Path]) -> Path:
    (path,) = paths.values()
    return path


# ------------------------------------------------------------------------ loaders


def read_chinchilla(paths: Mapping[str, Path]) -> pd.DataFrame:
    raw = pd.read_csv(only_file(paths))
    n, c = raw["Model Size"].astype(float), raw["Training FLOP"].astype(float)
    df = pd.DataFrame(
        {"N": n, "D": tokens_for_compute(c, n), "C": c, "loss": raw["loss"].astype(float)}
    ).assign(family="chinchilla", dataset="MassiveText")
    return tidy(df)


_GADRE_DATASETS = {"c4_original": "C4", "rpj": "RedPajama", "rw_original": "RefinedWeb"}
# Validation set (by its path in the run's ``val_data``) -> column name.
_GADRE_VAL_SETS = {
    "training/eval_data/c4_val/": "loss",
    "training/eval_data/val_tok_mult/openlm/": "loss_openlm",
    "training/eval_data/val_tok_mult/paloma_c4_en/": "loss_paloma_c4_en",
    "training/eval_data/val_tok_mult/paloma_dolma_100_programing_languages/": "loss_paloma_code",
    "training/eval_data/val_tok_mult/paloma_falcon-refinedweb/": "loss_paloma_refinedweb",
    "training/eval_data/val_tok_mult/paloma_ptb/": "loss_paloma_ptb",
    "training/eval_data/val_tok_mult/paloma_redpajama/": "loss_paloma_redpajama",
    "training/eval_data/val_tok_mult/de-en/": "loss_de_en",
}


def _gadre_val_column(val_data: str) -> str:
    for prefix, column in _GADRE_VAL_SETS.items():
        if val_data.startswith(prefix):
            return column
    raise ValueError(f"overtraining: unknown validation set {val_data!r} in a run file")


def read_overtraining(paths: Mapping[str, Path]) -> pd.DataFrame:
    records = []
    for path, local in sorted(paths.items()):
        if not path.startswith("exp_data/models/"):
            continue
        run = json.loads(local.read_text())
        hp = run["hyperparameters"]
        rec: dict[str, object] = {
            "run": run["name"],
            "N": float(hp["params"]),
            "D": float(hp["tokens"]),
            "chinchilla_multiplier": float(hp["chinchilla_multiplier"]),  # D / (20 N); not M
            "family": "open_lm",
            "dataset": _GADRE_DATASETS[run["dataset_name"]],
            "model": run["results"][0]["model"],
            "N_no_embed": float(hp["params_no_embed"]),
            "lr": float(hp["lr"]),
            "warmup": int(hp["warmup"]),
            "weight_decay": float(hp["wd"]),
            "batch_size": int(hp["global_bs"]),
            "loss_lower": np.nan,
            "loss_upper": np.nan,
            **{column: np.nan for column in _GADRE_VAL_SETS.values() if column != "loss"},
        }
        for result in run["results"]:
            column = _gadre_val_column(result["val_data"][0])
            rec[column] = float(result["loss"])
            if column == "loss":
                rec["loss_lower"] = float(result["loss_tokens_lower_95"])
                rec["loss_upper"] = float(result["loss_tokens_upper_95"])
        records.append(rec)
    df = pd.DataFrame.from_records(records)
    df.insert(3, "C", training_compute(df["N"], df["D"]))
    return tidy(df, sort=["dataset", "N", "chinchilla_multiplier"])


def read_overtraining_downstream(paths: Mapping[str, Path]) -> pd.DataFrame:
    runs = read_overtraining(paths).set_index("run")
    meta = pd.read_csv(paths["exp_data/eval_metadata.csv"]).set_index("Eval Task")
    records = []
    for path, local in sorted(paths.items()):
        if not path.startswith("exp_data/evals/"):
            continue
        run = Path(path).name.removeprefix("evaluation_").removesuffix("_heavy.json")
        scores = json.loads(local.read_text())["eval_metrics"]["icl"]
        records += [{"run": run, "task": t, "accuracy": float(s)} for t, s in scores.items()]
    long = pd.DataFrame.from_records(records)
    missing = sorted(set(long["task"]) - set(meta.index))
    if missing:
        raise ValueError(f"overtraining_downstream: tasks without a chance baseline: {missing}")
    task_meta = meta.loc[long["task"]]
    long["error"] = 1.0 - long["accuracy"]
    long["chance"] = task_meta["Random baseline"].to_numpy(dtype=float) / 100.0
    long["task_category"] = task_meta["Task Category"].to_numpy()
    long["task_type"] = task_meta["Task Type"].to_numpy()
    long["shots"] = task_meta["#shots"].to_numpy(dtype=int)
    long["n_examples"] = task_meta["#datapoints"].to_numpy(dtype=int)
    cols = ["N", "D", "C", "chinchilla_multiplier", "loss", "family", "dataset", "model"]
    df = long.join(runs[cols], on="run")
    extras = ["run", "model", "chance", "task_category", "task_type", "shots", "n_examples"]
    df = df[[c for c in df.columns if c not in extras] + extras]
    return tidy(df, sort=["dataset", "N", "chinchilla_multiplier", "task"])


def read_datablations(paths: Mapping[str, Path]) -> pd.DataFrame:
    raw = pd.read_csv(only_file(paths))
    df = pd.DataFrame(
        {
            "N": raw["params_N"],
            "D": raw["tokens_D"],
            "C": raw["compute_6ND"],
            "loss": raw["final_val_loss"],
            "family": "datablations",
            "dataset": "C4",
            "U": raw["unique_tokens_U"],
            "epochs": raw["epochs_D_over_U"],
            "run": raw["run_name"],
            "run_normalized": raw["run_name_normalized"],
            "seed_tag": raw["seed_tag"],
        }
    )
    return tidy(df)


_OBS_META = {
    "Model": "model",
    "Model Family": "family",
    "Model Size (B)": "N",
    "Pretraining Data Size (T)": "D",
    "FLOPs (1E21)": "C",
}


def read_obs_scaling(paths: Mapping[str, Path]) -> pd.DataFrame:
    raw = pd.read_csv(only_file(paths)).rename(columns=_OBS_META)
    raw["N"] *= 1e9
    raw["D"] *= 1e12
    raw["C"] *= 1e21
    meta = [*_OBS_META.values()]
    long = raw.melt(id_vars=meta, var_name="task", value_name="accuracy")
    long = long.dropna(subset=["accuracy"])
    return tidy(long)


def _nsl_params(model: str) -> float:
    """Parameter count where the benchmark's model name is one ("1.07e+09", "262M")."""
    scale = {"K": 1e3, "M": 1e6, "B": 1e9}.get(model[-1:], 1.0)
    try:
        return float(model[:-1] if scale != 1.0 else model) * scale
    except ValueError:
        return float("nan")


def read_nsl(paths: Mapping[str, Path]) -> pd.DataFrame:
    raw = pd.read_csv(only_file(paths))
    df = pd.DataFrame(
        {
            "N": raw["Model"].map(_nsl_params),
            "D": raw["Seen Examples"].astype(float),
            "loss": raw["Loss"].astype(float),
            "task": raw["Task"],
            "domain": raw["Domain"],
            "model": raw["Model"],
            "train": raw["Training"].astype(int).eq(1),
        }
    )
    if df["N"].isna().all():  # no vision model is named by its size
        df = df.drop(columns="N")
    return tidy(df)


def read_openclip(paths: Mapping[str, Path]) -> pd.DataFrame:
    raw = pd.read_csv(paths["zeroshot_results.csv"])
    arch = pd.read_csv(paths["arch_info.csv"]).set_index("model")
    unknown = sorted(set(raw["arch"]) - set(arch.index))
    if unknown:
        raise ValueError(f"openclip: architectures missing from arch_info.csv: {unknown}")
    info = arch.loc[raw["arch"]]
    df = pd.DataFrame(
        {
            "N": info["mparams"].to_numpy() * 1e6,
            "D": raw["samples_seen"].astype(float),
            # Forward FLOPs summed over samples seen: 2 FLOPs per multiply-accumulate.
            "C": 2e9 * raw["gmacs_total"].astype(float),
            "accuracy": raw["acc1"],
            "family": np.where(raw["name"].eq("openai"), "openai", "openclip"),
            "dataset": raw["upstream_dataset"],
            "task": raw["downstream_dataset"],
            "model": raw["arch"],
            "task_type": raw["task"],
            "N_image": info["image_mparams"].to_numpy() * 1e6,
            "N_text": info["text_mparams"].to_numpy() * 1e6,
            "gmacs_per_sample": raw["gmacs"],
            "gmacs_total": raw["gmacs_total"],
            "acc5": raw["acc5"],
            "mean_per_class_recall": raw["mean_per_class_recall"],
            "image_retrieval_recall_at_5": raw["image_retrieval_recall@5"],
            "text_retrieval_recall_at_5": raw["text_retrieval_recall@5"],
            "mean_average_precision": raw["mean_average_precision"],
            "samples_seen_pretty": raw["samples_seen_pretty"],
            "checkpoint": raw["name"],
        }
    )
    return tidy(df)


def read_clip_mammut_segmentation(paths: Mapping[str, Path]) -> pd.DataFrame:
    raw = pd.read_csv(only_file(paths))
    df = pd.DataFrame(
        {
            "N": raw["model_mparams"] * 1e6,
            "D": raw["samples_seen"].astype(float),
            "C": raw["gflops"] * 1e9,
            "miou": raw["miou"],
            "family": raw["namespace"],
            "dataset": raw["pretrain_dataset"],
            "task": raw["downstream_dataset"],
            "model": raw["model_simple"],
            "N_image": raw["model_image_mparams"] * 1e6,
            "N_text": raw["model_text_mparams"] * 1e6,
            "gflops_per_sample": raw["model_gflops"],
            "epoch": raw["epoch"],
            "total_epochs": raw["total_epochs"],
            "steps": raw["steps"],
            "samples_seen_per_epoch": raw["samples_seen_per_epoch"],
            "lr": raw["lr"],
            "warmup": raw["warmup"],
            "batch_size": raw["global_batch_size"],
            "train_contrastive_loss": raw["train_contrastive_loss"],
            "train_caption_loss": raw["train_caption_loss"],
            "gpu_hours": raw["gpu_hours"],
            "run": raw["name"],
        }
    )
    return tidy(df)


_PORIAN_DATASETS = {"rw": "RefinedWeb", "owt2": "OpenWebText2"}


def read_porian_isoflops(paths: Mapping[str, Path]) -> pd.DataFrame:
    raw = pd.read_csv(only_file(paths))
    df = pd.DataFrame(
        {
            "N": raw["n_params"],
            "D": raw["tokens"],
            "C": raw["flops_budget"],
            "loss": raw["loss"],
            "dataset": raw["dataset"].map(_PORIAN_DATASETS).fillna(raw["dataset"]),
            "experiment": raw["source_pickle"],
            "param_count": raw["param_count"],
            "hparams": raw["hparams"],
            "warmup": raw["warmup"],
            "decay": raw["decay"],
            "loss_split": raw["val"],
        }
    )
    return tidy(df)


KEMPNER_SWEEP = "data/sweep.csv"
KEMPNER_EXTRAPOLATION = "data/extrapolation.csv"
_KEMPNER_C4 = "eval/c4_val/CrossEntropyLoss"


def read_loss_to_loss(paths: Mapping[str, Path]) -> pd.DataFrame:
    frames = []
    for split, path in (("sweep", KEMPNER_SWEEP), ("extrapolation", KEMPNER_EXTRAPOLATION)):
        raw = pd.read_csv(paths[path])
        frames.append(
            pd.DataFrame(
                {
                    "N": raw["params"],
                    "D": raw["tokens"],
                    "C": raw["iso_flop"],
                    "loss": raw[_KEMPNER_C4],
                    "dataset": raw["data"],
                    "split": split,
                    "n_layers": raw["n_layers"],
                    "d_model": raw["d_model"],
                }
            )
        )
    return tidy(pd.concat(frames, ignore_index=True), sort=["split", "dataset", "C", "N"])


def read_openeurollm(paths: Mapping[str, Path]) -> pd.DataFrame:
    raw = pd.read_csv(only_file(paths))
    df = pd.DataFrame(
        {
            "N": raw["N"],
            "D": raw["D"],
            "C": raw["C"],
            "loss": raw["loss"],
            "N_approx": raw["N_approx"],
            "lr": raw["lr"],
            "batch_size": raw["gbsz"],
            "beta2": raw["beta2"],
            "seed": raw["seed"],
            "loss_se": raw["loss_se"],
        }
    )
    return tidy(df, sort=["N_approx", "D", "lr", "batch_size"])
