"""``fit_downstream(by="task")``: a link per task, partially pooled, and the per-task check."""

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.diagnostics import ESS_LIMIT, RHAT_LIMIT
from bayescale.downstream import LINKS, fit_downstream

CHANCE = 0.25
GAIN = {"a": 0.05, "b": 0.1, "c": 0.2, "d": 0.3}
GAMMA = {"a": 0.5, "b": 1.0, "c": 0.8, "d": 0.6}


def tasks_ladder(broken: str | None = None, seed: int = 0) -> pd.DataFrame:
    """12 runs of a floored power law in x, each scored on four tasks with their own error_from_loss link.

    ``broken``: a task whose score falls back to chance at the three largest runs (it leaves its link).
    """
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e3, 1e7, 12)
    loss = (2.0 + 30.0 * x**-0.3) * np.exp(0.003 * rng.standard_normal(x.size))
    centre = np.exp(np.mean(np.log(loss)))
    rows = []
    for task in GAIN:
        acc = np.array(LINKS["error_from_loss"].function(loss, CHANCE, centre, gain_c=GAIN[task], gamma=GAMMA[task]))
        if task == broken:
            acc[-3:] = CHANCE + 0.01
        score = rng.beta(acc * 3000, (1 - acc) * 3000)
        rows.append(pd.DataFrame({"x": x, "loss": loss, "accuracy": score, "task": task, "chance": CHANCE}))
    return pd.concat(rows, ignore_index=True)


OPTIONS = dict(law="power", metric="accuracy", link="error_from_loss", chance="chance", by="task",
               chains=2, draws=250, warmup=250, seed=0, progress=False)
BROKEN = "c"


# compiles a sampler no quick test shares: every test that uses it is marked long (pyproject.toml)
@pytest.fixture(scope="module")
def by_task():
    df = tasks_ladder(broken=BROKEN, seed=1)
    return df, fit_downstream(df, **OPTIONS)


@pytest.mark.long
def test_each_task_recovers_its_own_link(by_task):
    _, fit = by_task
    assert fit.by == "task" and fit.tasks == ["a", "b", "c", "d"]
    assert fit.diagnostics["max_rhat"] < 1.05 and fit.diagnostics["divergences"] == 0
    for site, truth in (("link_gain_c_task", GAIN), ("link_gamma_task", GAMMA)):
        draws = fit.draws(site)
        assert draws.shape == (500, 4)
        lo, hi = np.quantile(draws, [0.02, 0.98], axis=0)
        expected = np.array([truth[t] for t in fit.tasks])
        followed = np.array([t != BROKEN for t in fit.tasks])  # the broken task's top runs left its link
        assert np.all(((lo < expected) & (expected < hi))[followed]), (site, lo, hi, expected)
    # the tasks' gains differ by a factor of 6: the spread across tasks is learned, not shrunk to one value
    assert np.median(fit.draws("link_gain_c_task_sd")) > 0.4
    assert fit.draws("kappa").shape == (500, 4)  # the metric's noise per task
    assert fit.idata.posterior["link_gain_c_task"].dims[-1] == "task"
    assert "link_gain_c_task_sd" in fit.summary().index


@pytest.mark.long
def test_predictions_need_a_seen_task_and_average_over_tasks(by_task, tmp_path):
    _, fit = by_task
    runs = pd.DataFrame({"x": [1e6, 1e8]})
    with pytest.raises(ValueError, match="task"):
        fit.predict(runs)
    with pytest.raises(ValueError, match="closest seen: 'b'"):
        fit.predict(runs.assign(task="bb"))
    per_task = [fit.predict(runs.assign(task=t), seed=1, law_error=False) for t in fit.tasks]
    # the chance column comes from each task's fitted rows when the rows to predict lack it
    assert list(per_task[0].columns[:2]) == ["x", "task"]
    average = fit.predict_average(runs, seed=1, law_error=False)
    np.testing.assert_allclose(average["mean"], np.mean([p["mean"] for p in per_task], axis=0), rtol=1e-5)
    assert (average["lower"] < average["mean"]).all() and (average["mean"] < average["upper"]).all()
    two = fit.predict_average(runs, tasks=["a", "b"], seed=1, law_error=False)
    with pytest.warns(bs.ExtrapolationWarning, match=r"1 of 2 rows \(rows 1\) lie up to 2\.0 decades"):
        fit.predict_average(pd.DataFrame({"x": [1e6, 1e9]}), seed=1)  # fitted up to 1e7
    np.testing.assert_allclose(two["mean"], (per_task[0]["mean"] + per_task[1]["mean"]) / 2, rtol=1e-5)
    # the link of one task, and their average
    curve_a = fit.link_draws(np.array([2.5, 3.0]), task="a")
    assert curve_a.shape == (500, 2) and np.all(np.diff(np.median(curve_a, axis=0)) < 0)  # lower loss, higher acc
    assert fit.link_draws(np.array([2.5])).shape == (500, 1)
    # save and load keep the tasks, the per-task link and its spreads' priors
    path = fit.save(tmp_path / "tasks.nc")
    loaded = bs.load(path)
    assert loaded.tasks == fit.tasks and loaded.stage.groups_of == fit.stage.groups_of
    pd.testing.assert_frame_equal(loaded.predict(runs.assign(task="c"), seed=2), fit.predict(runs.assign(task="c"), seed=2))


def test_by_must_be_a_task_column_apart_from_the_loss_law_groups():
    df = tasks_ladder().assign(corpus="one")
    with pytest.raises(ValueError, match="by='tsk' is not a column"):
        fit_downstream(df, **{**OPTIONS, "by": "tsk"})
    with pytest.raises(ValueError, match="also a grouping column"):
        fit_downstream(df, **{**OPTIONS, "hierarchy": {"E": "task"}})
    with pytest.raises(ValueError, match="link_gain_c_task_sd"):
        fit_downstream(df, **{**OPTIONS, "priors": {"link_gain_c_sd": bs.laws.get("power").param("E").prior}})


@pytest.fixture(scope="module")
def checked(by_task):
    return bs.check_tasks(by_task[1], holdout=0.25)


@pytest.mark.long
def test_check_tasks_flags_the_task_that_leaves_its_link(by_task, checked):
    _, fit = by_task
    table = checked
    assert list(table.index) == fit.tasks and table.attrs["holdout_runs"] == 3
    assert (table["held_out"] == 3).all()
    assert not table.loc[BROKEN, "follows_link"] and table.loc[BROKEN, "coverage"] == 0
    assert table.drop(index=BROKEN)["follows_link"].all(), table
    # convergence judged per task on its own held-out forecast; the whole forecast passes if and only if each does
    assert table["converged"].dtype == bool
    assert table.attrs["converged"] == table["converged"].all()
    rule = (table["rhat"] <= RHAT_LIMIT) & (table["ess_bulk"] >= ESS_LIMIT) & (table.attrs["divergences"] == 0)
    assert (table["converged"] == rule).all(), table
    with pytest.raises(ValueError, match="holdout="):
        bs.check_tasks(fit, holdout=1.5)


@pytest.mark.long
def test_plots_and_report_of_a_fit_by_task(by_task, checked, tmp_path):
    from matplotlib import pyplot as plt

    from bayescale.cli import main

    df, fit = by_task
    average = fit.plot()  # the tasks' average link; each run at its score averaged over the four tasks
    assert "average of 4 tasks" in average.get_title()
    assert len(average.collections[-1].get_offsets()) == df["x"].nunique()
    one = fit.plot(x="x", task="c")
    assert one.get_title().endswith(", c") and len(one.collections[-1].get_offsets()) == 12
    with pytest.raises(ValueError, match="give task="):
        fit.plot(x="x")
    plt.close("all")
    path = fit.report(tmp_path / "tasks.html", at="x=1e8", check=checked, level=0.8)
    text = path.read_text()
    assert "Which tasks to trust" in text and "Averaged over the 4 tasks" in text and "Task by task" in text
    assert text.count("<img") == 2 and "c: flagged by the leave-future-out check" in text  # average + task c
    assert "chains=2, draws=250, warmup=250, seed=0" in text
    unmixed = checked.assign(converged=checked.index != "b")
    unmixed.attrs = {**checked.attrs, "converged": False}
    text = fit.report(tmp_path / "unmixed.html", check=unmixed, level=0.8).read_text()
    assert "did not meet the convergence rule (tasks: b;" in text
    # the command line: a saved fit by task gets this report; a loss-law option is refused by name
    saved = fit.save(tmp_path / "tasks.nc")
    assert main(["report", str(saved), "--out", str(tmp_path / "cli.html"), "--at", "x=1e8"]) == 0
    assert "Task by task" in (tmp_path / "cli.html").read_text()
    assert main(["predict", str(saved), "--at", "x=1e8,task=a", "--at", "x=1e8,task=d"]) == 0  # labels stay text
    with pytest.raises(SystemExit, match=r"x='1e8x' is not a number .*group labels go in \['task'\]"):
        main(["predict", str(saved), "--at", "x=1e8x,task=a"])
    with pytest.raises(SystemExit, match="--compute-optimal apply to a loss-law fit"):
        main(["report", str(saved), "--out", str(tmp_path / "x.html"), "--compute-optimal", "1e21"])
    with pytest.raises(SystemExit, match="--target, -k apply to a loss-law fit"):  # not silently ignored
        main(["report", str(saved), "--out", str(tmp_path / "x.html"), "--target", "x=1e8", "-k", "2"])
