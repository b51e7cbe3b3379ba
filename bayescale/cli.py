"""The ``bayescale`` command line: fit, predict, compare, plot, design, plan, multiplier, rank, report, laws, demo.

Examples
--------
bayescale demo
bayescale fit runs.csv --law chinchilla --y loss --inputs N=params,D=tokens --groups dataset --out fit.nc
bayescale predict fit.nc --at N=7e9,D=2e12
bayescale compare a.nc b.nc
bayescale plot fit.nc --x C --out band.png
bayescale multiplier new.nc base.nc --at C=1e22 --at C=1e23 --plot k.png
bayescale rank c4.nc rpj.nc rw.nc --at C=1e23
bayescale report fit.nc --out report.html --at N=7e9,D=2e12
bayescale report fit.nc --out report.html --candidates runs.csv --target N=7e9,D=2e12 --budget 1e21
bayescale design fit.nc --candidates runs.csv --target "N=7e9,D=2e12" -k 4
bayescale design a.nc --candidates runs.csv --target "N=7e9,D=2e12" --versus b.nc
bayescale plan --budget 1e20 --target "N=7e9,D=1.4e11"
bayescale zoo rebuild
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from bayescale.cli_text import floats, label_columns, pairs, show


# --- commands --------------------------------------------------------------------------------
def cmd_fit(args: argparse.Namespace) -> int:
    import bayescale as bs

    data = pd.read_csv(args.csv)
    hierarchy = {k: v.split("+") for k, v in pairs(args.hierarchy, "--hierarchy").items()} if args.hierarchy else None
    groups = args.groups.split(",") if args.groups else None
    if args.within is not None and not args.near_optimal:
        raise SystemExit(f"error: --within {args.within:g} needs --near-optimal BUDGET (the column of each run's "
                         "isoFLOP budget)")  # fmt: skip
    if args.near_optimal:
        window = {} if args.within is None else {"within": args.within}  # none: bs.near_optimal's default
        kept = bs.near_optimal(data, y=args.y, budget=args.near_optimal, by=groups, **window)
        print(f"fitting the {len(kept)} of {len(data)} runs near their {args.near_optimal!r} budget's best loss "
              "(--near-optimal)")  # fmt: skip
        data = kept
    fit = bs.fit(
        data,
        law=args.law,
        y=args.y,
        inputs=pairs(args.inputs, "--inputs") if args.inputs else None,
        groups=groups,
        hierarchy=hierarchy,
        likelihood=args.likelihood,
        chains=args.chains,
        draws=args.draws,
        warmup=args.warmup,
        seed=args.seed,
        progress=False if args.quiet else None,
    )
    path = fit.save(args.out)
    print(show(fit.summary()))
    print(f"\n{fit!r}\nsaved to {path}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import bayescale as bs

    fit = bs.load(args.fit)
    if args.csv:
        rows = pd.read_csv(args.csv)
    elif args.at:
        rows = pd.DataFrame([floats(point, "--at", label_columns(fit)) for point in args.at])
    else:
        raise SystemExit("error: give the inputs with --at N=7e9,D=2e12 (repeatable) or --csv points.csv")
    table = fit.predict(rows, level=args.level, law_error=not args.no_law_error)
    if args.out:
        table.to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    print(show(table))
    print(f"\nmedian/lower/upper: the law's curve ({args.level:.0%} credible interval); "
          "pred_lower/pred_upper: a new run, noise included.")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    import bayescale as bs

    fits = {Path(path).stem: bs.load(path) for path in args.fits}
    print(show(bs.compare(fits, ic=args.ic)))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import bayescale as bs

    fit = bs.load(args.fit)
    with bs.plots.style():  # column-width figure for a paper or slide
        ax = fit.plot(x=args.x, extrapolate=args.extrapolate)
        ax.figure.savefig(args.out, dpi=args.dpi)
    print(f"wrote {args.out}")
    return 0


def cmd_design(args: argparse.Namespace) -> int:
    import bayescale as bs

    fit = bs.load(args.fit)
    table = _next_runs(fit, args)
    picked = int((table["pick"] > 0).sum())
    if args.out:
        table.to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    shown = table if args.all else table.head(max(picked, 10))
    print(show(shown))
    print(f"\ngain: expected reduction of the {table.attrs['units']} (now {table.attrs['var_now']:.4g}); "
          f"cost: {args.cost}; " + ("pick 1: the best run." if picked == 1 else
          f"pick 1..{picked}: the batch, chosen greedily with fantasised outcomes."))
    if args.budget is not None:
        print(f"budget {args.budget:.4g}: the batch costs {table.attrs['batch_cost']:.4g} and is expected to remove "
              f"{table.attrs['batch_gain']:.4g} of the variance (greedy by {table.attrs['rule']}).")
    return 0


def _next_runs(fit, args: argparse.Namespace) -> pd.DataFrame:
    """:func:`bayescale.next_runs` with the options shared by ``design`` and ``report``."""
    import bayescale as bs

    target = _design_target(args, label_columns(fit))
    return bs.next_runs(fit, pd.read_csv(args.candidates), target, cost=args.cost, k=args.k, budget=args.budget,
                        n_fantasies=args.fantasies, rank_by=args.rank_by, law_error=not args.no_law_error,
                        seed=args.seed)  # fmt: skip


def _add_next_runs_options(p: argparse.ArgumentParser, *, required: bool) -> None:
    """The options of :func:`_next_runs` (``--candidates`` optional in ``report``)."""
    p.add_argument("--candidates", required=required, help="CSV of runs one could train (the law's inputs)")
    p.add_argument("--target", help='rows to make certain, e.g. "N=7e9,D=2e12" (";" between rows; a grouped fit takes its '
                   'group too, "N=7e9,D=2e12,dataset=c4")')
    p.add_argument("--optimum", help="instead: the compute-optimal N* at these FLOP budgets, e.g. 1e23")
    p.add_argument("--versus", help="with --target: a saved fit of another recipe; make certain whether this "
                   "one beats it at the target rows")
    p.add_argument("--metric", help="with --target: a saved fit_downstream fit; make its metric certain there "
                   "(its link of this fit's loss)")
    p.add_argument("--task", help="with --metric, for a fit by task: the task (default: their average)")
    p.add_argument("-k", type=int, default=None, help="runs to choose (a batch, chosen greedily; default 1, "
                   "or as many as fit with --budget)")
    p.add_argument("--budget", type=float, help="total cost the batch may spend (units of --cost), e.g. 1e21")
    p.add_argument("--cost", default="C", help="cost column of the candidates, or C (FLOPs 6ND, the default)")
    p.add_argument("--rank-by", default="gain_per_cost", choices=["gain_per_cost", "gain"])
    p.add_argument("--fantasies", type=int, default=16, help="fantasised outcomes per candidate")
    p.add_argument("--seed", type=int, default=0)


def _design_target(args: argparse.Namespace, labels: frozenset[str] = frozenset()):
    """The target of ``design`` and ``plan``: ``--target`` rows (``labels``: the fit's group columns,
    kept as text) or ``--optimum`` budgets."""
    import bayescale as bs

    if args.target and args.optimum:
        raise SystemExit("error: give --target (rows to predict) or --optimum (a FLOP budget), not both")
    versus, metric = getattr(args, "versus", None), getattr(args, "metric", None)
    if (versus or metric) and not args.target:
        raise SystemExit('error: --versus and --metric need the rows they concern: --target "N=7e9,D=2e12"')
    if versus and metric:
        raise SystemExit("error: give --versus (which recipe wins) or --metric (a downstream metric), not both")
    if args.target:
        rows = pd.DataFrame([floats(point, "--target", labels) for point in args.target.split(";")])
        if versus:
            return bs.targets.better(bs.load(versus), rows, law_error=not getattr(args, "no_law_error", False))
        if metric:
            return bs.targets.metric(bs.load(metric), rows, task=getattr(args, "task", None))
        return rows
    if args.optimum:
        return bs.targets.optimum(C=[float(v) for v in args.optimum.split(",")])
    raise SystemExit('error: give the target with --target "N=7e9,D=2e12" (";" between rows) or --optimum 1e23')


def cmd_plan(args: argparse.Namespace) -> int:
    import bayescale as bs

    candidates = pd.read_csv(args.candidates) if args.candidates else None
    prior = bs.load(args.prior) if args.prior else None
    plan = bs.plan_ladder(args.law, _design_target(args), args.budget, candidates=candidates, prior=prior, k=args.k,
                          noise=args.noise, law_error=not args.no_law_error, seed=args.seed)  # fmt: skip
    if args.out:
        plan.to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    print(show(plan))
    print(f"\nsd_after: predicted posterior sd of the target (square root of the {plan.attrs['units']}), with the "
          "bias of runs off the target's regime (off_regime_sd: the law's error at each run from its distance to the "
          "target's tokens per parameter), once the runs up to that one are "
          f"trained; before any run {plan.attrs['sd_prior']:.3g}. Noise {plan.attrs['noise']:.3g} (sd of log y); "
          f"greedy by {plan.attrs['rule']}; {plan['spent'].iloc[-1]:.4g} of the budget {args.budget:.4g} spent.")
    return 0


def _names(paths: Sequence[str], names: str | None) -> list[str]:
    """Labels of saved fits: ``--names`` (comma-separated) or the file names without suffix."""
    labels = [n.strip() for n in names.split(",")] if names else [Path(p).stem for p in paths]
    if len(labels) != len(paths):
        raise SystemExit(f"error: --names gives {len(labels)} labels for {len(paths)} fits")
    if len(set(labels)) != len(labels):
        raise SystemExit(f"error: the fits need distinct names, got {labels}; pass --names a,b,...")
    return labels


def _groups(text: str | None) -> list[str] | None:
    return [g.strip() for g in text.split(",") if g.strip()] if text else None


def cmd_multiplier(args: argparse.Namespace) -> int:
    import bayescale as bs

    groups = _groups(args.groups)
    if groups is None and len(args.fits) != 2:
        raise SystemExit("error: give two saved fits (recipe A, recipe B), or one grouped fit and --groups a,b")
    if groups is not None and len(args.fits) != 1:
        raise SystemExit("error: --groups compares two levels of one fit; give exactly one saved fit")
    fits = [bs.load(path) for path in args.fits]
    at = None
    if args.at:
        points = [floats(point, "--at") for point in args.at]
        keys = {key for point in points for key in point}
        if len(keys) != 1:
            raise SystemExit(f"error: every --at must name one and the same quantity (C=1e23 or loss=2.5), got {sorted(keys)}")
        key = keys.pop()
        at = {key: [point[key] for point in points]}
    names: list[str] | None
    if groups is None:
        names = _names(args.fits, args.names)
    else:
        names = [n.strip() for n in args.names.split(",")] if args.names else None
    result = bs.compute_multiplier(fits[0], fits[1] if groups is None else None, groups=groups, at=at, x=args.x,
                                   names=names, path=args.path, level=args.level, law_error=not args.no_law_error)  # fmt: skip
    table = result.summary()
    print(show(table))
    a, b = result.names
    print(f"\nk = compute {b} needs / compute {a} needs for the same {fits[0].y} (k > 1: {a} needs less); "
          f"median and {args.level:.0%} credible interval of the curves"
          + ("" if args.no_law_error else ", law error beyond the fitted runs included") + "; "
          "prob_a_better = P(k > 1).")
    if args.out:
        table.to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        ax = result.plot()
        ax.figure.savefig(args.plot, dpi=150)
        print(f"wrote {args.plot}")
    return 0


def cmd_rank(args: argparse.Namespace) -> int:
    import bayescale as bs

    groups = _groups(args.groups)
    if groups is None and len(args.fits) < 2:
        raise SystemExit("error: give two or more saved fits, or one grouped fit and --groups a,b,c")
    if groups is not None and len(args.fits) != 1:
        raise SystemExit("error: --groups ranks the levels of one fit; give exactly one saved fit")
    target = floats(args.at, "--at")
    if groups is None:
        fits = dict(zip(_names(args.fits, args.names), (bs.load(p) for p in args.fits), strict=True))
        result = bs.rank(fits, at=target, path=args.path, level=args.level, law_error=not args.no_law_error)
    else:
        result = bs.rank(bs.load(args.fits[0]), groups=groups, at=target, path=args.path, level=args.level,
                         law_error=not args.no_law_error)  # fmt: skip
    table = result.summary()
    print(show(table))
    print("\nP(row better than column):")
    print(show(result.pairwise(), digits=3))
    better = "lower" if result.lower_is_better else "higher"
    print(f"\nbest (least expected regret): {result.best}. median/lower/upper: the curve at the target "
          f"({args.level:.0%} credible interval{'' if args.no_law_error else ', law error included'}; {better} is "
          "better); expected_regret: what picking it costs on average against the best, in the target's units.")
    if args.out:
        table.to_csv(args.out)
        print(f"wrote {args.out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import bayescale as bs

    fit = bs.load(args.fit)
    if isinstance(fit, bs.DownstreamFit):
        return _downstream_report(fit, args)
    if args.check_tasks:
        raise SystemExit(f"error: --check-tasks tests the tasks of a fit_downstream fit; {args.fit} is a "
                         f"{type(fit).__name__}")
    comparison = None
    if args.compare:
        comparison = {Path(args.fit).stem: fit, **{Path(p).stem: bs.load(p) for p in args.compare}}
    compute_optimal = [float(v) for v in args.compute_optimal.split(",")] if args.compute_optimal else None
    if not args.candidates and (args.target or args.optimum or args.budget is not None or args.k is not None):
        raise SystemExit("error: --target, --optimum, --budget and -k choose the next runs among --candidates; "
                         "give --candidates runs.csv too")
    next_runs = _next_runs(fit, args) if args.candidates else None
    path = fit.report(args.out, at=args.at, x=args.x, title=args.title, level=args.level, comparison=comparison,
                      compute_optimal=compute_optimal, extrapolate=args.extrapolate, next_runs=next_runs)
    print(f"wrote {path}")
    return 0


def _downstream_report(fit, args: argparse.Namespace) -> int:
    """``bayescale report`` of a saved fit_downstream fit: the options of a loss-law fit are refused."""
    loss_law_only = {"--compare": args.compare, "--compute-optimal": args.compute_optimal, "--x": args.x,
                     "--candidates": args.candidates, "--target": args.target, "--optimum": args.optimum,
                     "--budget": args.budget, "-k": args.k}
    given = [flag for flag, value in loss_law_only.items() if value is not None]
    if given:
        raise SystemExit(f"error: {', '.join(given)} apply to a loss-law fit; {args.fit} is a fit_downstream fit "
                         "(its report takes --at, --title, --level and --check-tasks)")
    if args.check_tasks and not fit.by:
        raise SystemExit(f"error: --check-tasks needs a fit by task; {args.fit} was fitted without by=")
    path = fit.report(args.out, at=args.at, title=args.title, level=args.level, check=True if args.check_tasks else None)
    print(f"wrote {path}")
    return 0


def cmd_zoo(args: argparse.Namespace) -> int:
    import bayescale as bs

    if args.action == "list":
        print(show(bs.zoo.list()))
        return 0
    paths = bs.zoo.rebuild(args.out, args.names or None, progress=not args.quiet)
    for path in paths:
        print(f"wrote {path}")
    return 0


def cmd_laws(args: argparse.Namespace) -> int:
    import bayescale as bs

    if args.name:
        print(bs.laws.get(args.name).describe())
    else:
        print(show(bs.laws.list()[["name", "inputs", "formula", "better"]]))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from bayescale.demo import run_demo

    return run_demo(out=args.out, draws=args.draws, quiet=args.quiet)


# --- parser ----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bayescale", description="Bayesian scaling laws with NumPyro.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="command")

    p = sub.add_parser("fit", help="fit a law to a CSV of runs and save the posterior")
    p.add_argument("csv", help="CSV file, one row per run")
    p.add_argument("--law", default="chinchilla", help="law name (see `bayescale laws`)")
    p.add_argument("--y", default="loss", help="target column (default: loss)")
    p.add_argument("--inputs", help="law input to column, e.g. N=params,D=tokens")
    p.add_argument("--groups", help="grouping column(s) for every parameter, comma-separated")
    p.add_argument("--hierarchy", help="per-parameter grouping, e.g. E=dataset,A=dataset+family")
    p.add_argument("--likelihood", default="student_t", choices=["student_t", "normal", "beta", "frontier"])
    p.add_argument("--near-optimal", metavar="BUDGET", help="isoFLOP sweeps: fit only the runs near the best loss of "
                   "their budget (this column; per --groups too), see bs.near_optimal")  # fmt: skip
    p.add_argument("--within", type=float, default=None, help="with --near-optimal: the relative excess over the best "
                   "loss a run may have (default: bs.near_optimal's, 0.1)")  # fmt: skip
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, help="netCDF file to write, e.g. fit.nc")
    p.set_defaults(run=cmd_fit)

    p = sub.add_parser("predict", help="posterior predictions from a saved fit")
    p.add_argument("fit", help="a fit saved by `bayescale fit` or Fit.save")
    p.add_argument("--at", action="append", help="inputs of one point, e.g. N=7e9,D=2e12 (repeatable); "
                   "a grouped fit also takes its group labels, e.g. N=7e9,D=2e12,dataset=c4")
    p.add_argument("--csv", help="CSV of points instead of --at")
    p.add_argument("--level", type=float, default=0.9)
    p.add_argument("--no-law-error", action="store_true",
                   help="the law's curve alone: no drift from the law beyond the fitted runs (narrower, less honest)")
    p.add_argument("--out", help="write the table to this CSV")
    p.set_defaults(run=cmd_predict)

    p = sub.add_parser("compare", help="rank saved fits of the same data by LOO or WAIC")
    p.add_argument("fits", nargs="+", help="two or more saved fits")
    p.add_argument("--ic", default="loo", choices=["loo", "waic"])
    p.set_defaults(run=cmd_compare)

    p = sub.add_parser("plot", help="draw data, median curve and 50/90%% bands to an image")
    p.add_argument("fit")
    p.add_argument("--x", help="horizontal axis: an input, or C for laws of N and D")
    p.add_argument("--extrapolate", type=float, default=10.0, help="extend the curve to this many times the largest x")
    p.add_argument("--dpi", type=int, default=150)
    p.add_argument("--out", required=True, help="image file, e.g. band.png or band.pdf")
    p.set_defaults(run=cmd_plot)

    p = sub.add_parser("design", help="rank candidate runs by how much they would tighten a forecast")
    p.add_argument("fit", help="a fit saved by `bayescale fit` or Fit.save")
    _add_next_runs_options(p, required=True)
    p.add_argument("--no-law-error", action="store_true", help="rank by the law alone: no drift from the law beyond the "
                   "fitted runs or away from the target's tokens per parameter")
    p.add_argument("--all", action="store_true", help="print every candidate, not the first max(k, 10)")
    p.add_argument("--out", help="write the ranked table to this CSV")
    p.set_defaults(run=cmd_design)

    p = sub.add_parser("plan", help="choose a first ladder within a FLOP budget, from the prior (no runs yet)")
    p.add_argument("--law", default="chinchilla", help="the law the ladder will be fitted with (default chinchilla)")
    p.add_argument("--budget", type=float, required=True, help="FLOPs (or units of the cost) the ladder may spend")
    p.add_argument("--target", help='rows to make certain, e.g. "N=7e9,D=2e12" (";" between rows)')
    p.add_argument("--optimum", help="instead: the compute-optimal N* at these FLOP budgets, e.g. 1e23")
    p.add_argument("--candidates", help="CSV of runs one could train (default for laws of N, D: a size x tokens grid)")
    p.add_argument("--prior", help="a saved fit of the same law whose posterior is the prior (default: the law's priors)")
    p.add_argument("-k", type=int, default=None, help="the most runs to choose (default: as many as the budget buys)")
    p.add_argument("--noise", type=float, default=None, help="scatter of a run, sd of log y (default 0.0066)")
    p.add_argument("--no-law-error", action="store_true", help="leave out the drift from the law beyond the ladder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the plan to this CSV")
    p.set_defaults(run=cmd_plan)

    p = sub.add_parser("multiplier", help="compute multiplier of recipe A over recipe B (saved fits), with intervals")
    p.add_argument("fits", nargs="+", help="two saved fits (A, B), or one grouped fit with --groups")
    p.add_argument("--at", action="append",
                   help="compute of A (C=1e23) or a loss (loss=2.5) at which to evaluate; repeatable (default: a grid)")
    p.add_argument("--groups", help="two levels of one grouped fit, e.g. web,books")
    p.add_argument("--names", help="labels of A and B, comma-separated (default: the file names)")
    p.add_argument("--x", default="C", help="the compute input or column (default: C; C = 6ND for laws of N and D)")
    p.add_argument("--path", default="optimal", choices=["optimal", "ratio", "N"],
                   help="for laws of N and D: compute-optimal frontier (default) or the data's median D/N")
    p.add_argument("--level", type=float, default=0.9)
    p.add_argument("--no-law-error", action="store_true", help="the laws' curves alone, no drift beyond the runs")
    p.add_argument("--out", help="write the table to this CSV")
    p.add_argument("--plot", help="draw k against compute to this image, e.g. k.png")
    p.set_defaults(run=cmd_multiplier)

    p = sub.add_parser("rank", help="rank recipes (saved fits) at a target scale: P(best), pairwise, regret")
    p.add_argument("fits", nargs="+", help="two or more saved fits, or one grouped fit with --groups")
    p.add_argument("--at", required=True, help="the target: C=1e23 (along --path), or every input, e.g. N=7e9,D=1.4e11")
    p.add_argument("--groups", help="levels of one grouped fit to rank, e.g. C4,RedPajama,RefinedWeb")
    p.add_argument("--names", help="labels of the fits, comma-separated (default: the file names)")
    p.add_argument("--path", default="optimal", choices=["optimal", "ratio", "N"],
                   help="for --at C=... with laws of N and D: compute-optimal allocation (default) or median D/N")
    p.add_argument("--level", type=float, default=0.9)
    p.add_argument("--no-law-error", action="store_true", help="the laws' curves alone, no drift beyond the runs")
    p.add_argument("--out", help="write the ranking table to this CSV")
    p.set_defaults(run=cmd_rank)

    p = sub.add_parser("report", help="write a self-contained HTML report of a saved fit (or fit_downstream fit)")
    p.add_argument("fit")
    p.add_argument("--check-tasks", action="store_true",
                   help="a fit_downstream fit by task: refit without the largest runs and flag the tasks to distrust")
    p.add_argument("--out", required=True, help="HTML file to write, e.g. report.html")
    p.add_argument("--at", help='scales to predict at, e.g. "N=7e9,D=2e12;N=7e10,D=1.4e12"')
    p.add_argument("--compare", nargs="+", help="other saved fits of the same data to compare by LOO")
    p.add_argument("--compute-optimal", help="compute budgets for the allocation table, e.g. 1e21,1e22,1e23")
    p.add_argument("--x", help="horizontal axis of the band plot")
    p.add_argument("--title")
    p.add_argument("--level", type=float, default=0.9)
    p.add_argument("--extrapolate", type=float, default=10.0)
    p.add_argument("--no-law-error", action="store_true", help="next runs: rank by the law alone (no drift from "
                   "the law beyond the fitted runs or away from the target's tokens per parameter)")
    _add_next_runs_options(p, required=False)  # with --candidates: the section "the next runs that would help most"
    p.set_defaults(run=cmd_report)

    p = sub.add_parser("zoo", help="the reference-posterior zoo: list it, or rebuild it from the public data")
    p.add_argument("action", choices=["list", "rebuild"])
    p.add_argument("names", nargs="*", help="entries to rebuild (default: all)")
    p.add_argument("--out", help="folder to write (default: the package's models/ folder)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=cmd_zoo)

    p = sub.add_parser("laws", help="list the registered laws, or describe one")
    p.add_argument("name", nargs="?")
    p.set_defaults(run=cmd_laws)

    p = sub.add_parser("demo", help="offline demo on the embedded data (about a minute)")
    p.add_argument("--out", help="folder for the figure and the saved fit (default: a new temporary folder)")
    p.add_argument("--draws", type=int, default=1000, help="draws and warm-up steps per chain")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bayescale`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from bayescale import __version__

        print(__version__)
        return 0
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            return args.run(args)
    except (ValueError, KeyError, TypeError, FileNotFoundError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
