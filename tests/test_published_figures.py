"""The README's headline numbers agree with the published files they come from (issue 23).

Each table of the README that reports a published experiment is recomputed here from its file under
``docs/`` and compared at the README's printed precision, so a number in prose cannot drift from its file:

* the actor-init comparison ← ``docs/figures/compare_actor_init.json``;
* matching vs shuffled news ← ``docs/doc_conditioning/contrast_hindsight.md`` (seeds 0-2) and
  ``contrast_hindsight_seeds_3_4.md`` (seeds 3-4): the published tables (their JSON carries the provenance);
* the real-data study ← ``docs/results/study.json``.

Reading only files, it runs in well under a second.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def _num(text: str) -> float:
    """A number as printed in the docs (Unicode minus, ``+`` sign, thousands separators)."""
    return float(text.replace("\u2212", "-").replace(",", "").replace("+", ""))


def _numbers(text: str) -> list[float]:
    return [_num(m) for m in re.findall(r"[+\-\u2212]?\d[\d,]*(?:\.\d+)?", text)]


def _row(text: str, first_cell: str) -> list[str]:
    """The cells of the markdown table row of ``text`` whose first cell is ``first_cell``."""
    for line in text.splitlines():
        cells = [c.strip().strip("*") for c in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and cells[0].strip("* ") == first_cell:
            return cells
    raise AssertionError(f"no table row {first_cell!r}")


def _fmt(value: float, places: int = 2) -> float:
    return round(value + 0.0, places)


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text()


# ------------------------------------------------------------------------------------ compare_actor_init
ACTOR_ROWS = {"PPO, pretrained decoder actor": "ppo_pretrained", "PPO, random-init actor": "ppo_random_init",
              "masked random search": "random_search"}


def test_compare_actor_init_table_matches_its_json(readme):
    doc = json.loads((DOCS / "figures" / "compare_actor_init.json").read_text())
    assert f"3 seeds ×\n{doc['evaluations']:,} evaluations" in readme or \
        f"{len(doc['seeds'])} seeds × {doc['evaluations']:,} evaluations" in readme.replace("\n", " ")
    for label, method in ACTOR_ROWS.items():
        runs = doc["finals"][method]
        cells = _row(readme, label)
        train, valid = [r["train"] for r in runs], [r["valid"] for r in runs]
        assert _numbers(cells[1]) == [_fmt(np.nanmean(train)), _fmt(np.nanmedian(train))], (label, cells[1])
        assert _numbers(cells[2]) == [_fmt(np.nanmean(valid)), _fmt(np.nanmedian(valid))], (label, cells[2])
        reached = [r["evaluations_to_80pct"] for r in runs if r["evaluations_to_80pct"] is not None]
        printed = _numbers(cells[3])
        assert printed[0] == round(float(np.median(reached))), (label, cells[3])
        if len(reached) < len(runs):  # "340 (2 of 3 seeds)"
            assert printed[1:] == [len(reached), len(runs)], (label, cells[3])


# ------------------------------------------------------------------------------------ doc_conditioning
def _doc_table(name: str) -> dict[str, object]:
    """Per condition: held-out mean and per-seed values; the stage-only rows; the paired line."""
    text = (DOCS / "doc_conditioning" / f"{name}.md").read_text()
    rows = {}
    for cond in ("matching", "shuffled", "matching, hindsight stage only (before PPO)",
                 "shuffled, hindsight stage only (before PPO)"):
        cells = _row(text, cond)
        rows[cond] = {"mean": _num(cells[1]), "per_seed": _numbers(cells[5])}
    paired = re.search(r"Paired difference matching − shuffled \(per seed\): ([+\-−][\d.]+) ± ([\d.]+) "
                       r"\(SE over (\d+) seeds, t = ([\d.]+)\); per seed ([^;]+);", text)
    assert paired, name
    reference = re.search(r"best single planted expression `[^`]+` ([+\-−][\d.]+); regime oracle .* "
                          r"([+\-−][\d.]+)\.", text)
    assert reference, name
    return {"rows": rows, "diff": _num(paired[1]), "se": _num(paired[2]), "t": _num(paired[4]),
            "diffs": _numbers(paired[5]), "best_single": _num(reference[1]), "oracle": _num(reference[2])}


def test_doc_conditioning_table_matches_its_file(readme):
    three = _doc_table("contrast_hindsight")
    rows = three["rows"]
    for label, cond in (("matching news", "matching"), ("shuffled news (the control)", "shuffled")):
        cells = _row(readme, label)
        assert _num(cells[1]) == _fmt(rows[cond]["mean"]), (label, cells[1])
        assert _numbers(cells[2]) == rows[cond]["per_seed"], (label, cells[2])
    assert _num(_row(readme, "reference: best single planted alpha")[1]) == _fmt(three["best_single"])
    assert _num(_row(readme, "reference: regime oracle")[1]) == _fmt(three["oracle"])
    m = re.search(r"The paired difference is \*\*([+\-−][\d.]+) ± ([\d.]+)\*\* \(standard error over (\d) "
                  r"seeds, t = ([\d.]+)\)", readme)
    assert m, "the README's paired-difference sentence moved"
    assert (_num(m[1]), _num(m[2]), int(m[3]), _num(m[4])) == \
        (_fmt(three["diff"]), _fmt(three["se"]), len(rows["matching"]["per_seed"]), _fmt(three["t"]))
    stage = re.search(r"the stage alone without PPO \(([+\-−][\d.]+) vs ([+\-−][\d.]+)\)", readme)
    assert stage, "the README's hindsight-stage sentence moved"
    assert _num(stage[1]) == _fmt(rows["matching, hindsight stage only (before PPO)"]["mean"])
    assert _num(stage[2]) == _fmt(rows["shuffled, hindsight stage only (before PPO)"]["mean"])


def test_doc_conditioning_five_seed_figures_match_both_files(readme):
    three, two = _doc_table("contrast_hindsight"), _doc_table("contrast_hindsight_seeds_3_4")
    diffs = three["diffs"] + two["diffs"]
    matching = three["rows"]["matching"]["per_seed"] + two["rows"]["matching"]["per_seed"]
    shuffled = three["rows"]["shuffled"]["per_seed"] + two["rows"]["shuffled"]["per_seed"]
    m = re.search(r"over 5 seeds the difference is ([+\-−][\d.]+) ± ([\d.]+), with matching news at\s+"
                  r"([+\-−][\d.]+) and shuffled at ([+\-−]\d+\.\d+)", readme)
    assert m, "the README's five-seed sentence moved"
    se = statistics.stdev(diffs) / math.sqrt(len(diffs))
    # the files print per-seed values to 2 places, so the recomputed means may differ by 0.01
    assert abs(_num(m[1]) - statistics.mean(diffs)) <= 0.011, (m[1], diffs)
    assert abs(_num(m[2]) - se) <= 0.011, (m[2], se)
    assert abs(_num(m[3]) - statistics.mean(matching)) <= 0.011, (m[3], matching)
    assert abs(_num(m[4]) - statistics.mean(shuffled)) <= 0.011, (m[4], shuffled)


# ------------------------------------------------------------------------------------ real-data study
STUDY_ROWS = {"PPO, pretrained actor": "ppo_pretrained", "PPO, random-init actor": "ppo_random",
              "PPO with news": "ppo_docs", "AlphaGen replication": "alphagen", "GP": "gp",
              "random search": "random", "101 alphas": "alpha101", "Alpha158": "alpha158"}
STUDY_COLUMNS = ((1, "sp500_2013_2018", "pool", "rank_ic", 4),
                 (2, "sp500_2013_2018", "pool", "sharpe_net", 2),
                 (3, "us_2006_2013", "pool", "rank_ic", 4), (4, "us_2006_2013", "pool", "sharpe_net", 2),
                 (5, "us_2006_2013", "single", "sharpe_net", 2))


@pytest.fixture(scope="module")
def study() -> dict:
    return json.loads((DOCS / "results" / "study.json").read_text())


def _study_values(study: dict, dataset: str, method: str, part: str, key: str) -> list[float] | None:
    """The test figure ``key`` of each run's ``part`` (pool / single); ``None`` when the method did not run
    on that dataset."""
    runs = [r for r in study["runs"] if r["dataset"] == dataset and r["method"] == method]
    if not runs:
        return None
    return [r[part]["test"][key] for r in runs if r.get(part) and math.isfinite(r[part]["test"][key])]


def test_study_table_matches_its_json(readme, study):
    """Each cell of the README's study table is the mean ± sample sd over seeds (a single value for one
    run) of its figure in docs/results/study.json; "–" where the method did not run, "n/a" where no run
    had a pool."""
    section = readme[readme.index("**Real data, out of sample, round 2: pools**"):]
    for label, method in STUDY_ROWS.items():
        cells = _row(section, label)
        for column, dataset, part, key, places in STUDY_COLUMNS:
            values = _study_values(study, dataset, method, part, key)
            if values is None:
                assert cells[column] == "–", (label, column, cells[column])
                continue
            if not values:
                assert cells[column].startswith("n/a"), (label, column, cells[column])
                continue
            expected = [round(statistics.mean(values), places)]
            if len(values) > 1:
                expected.append(round(statistics.stdev(values), places))
            printed = _numbers(cells[column])[: len(expected)]
            assert printed == expected, (label, column, cells[column], values)


def test_study_prose_matches_its_json(readme, study):
    flat = " ".join(readme.split())
    assert f"**{study['seconds']:,.0f} s**" in flat
    assert f"at commit {study['commit'][:7]}" in flat
    assert study["provenance"]["clean"] and not study["incomplete"]
    assert f"--budget {study['args']['budget']}" in flat and "The budget is 600 evaluations" in flat
    assert study["args"]["budget"] == 600 and study["target"]["status"] == "not met"
    assert "**The issue's target is not met**" in flat
    dsr = [r[part]["dsr"] for r in study["runs"] for part in ("pool", "single") if r.get(part)]
    assert max(dsr) < 0.001 and "deflated Sharpe is below 0.001" in flat
    corr = study["paper"]["sp500_2013_2018"]["mean_pairwise_correlation"]
    assert f"PnL is {100 * corr:.1f}%" in flat


# ------------------------------------------------------------------------------------ make figures
def test_make_figures_plans_every_published_file(experiments, capsys):
    make_figures = experiments("make_figures")
    assert make_figures.uncovered() == []
    for step in make_figures.PLAN:
        assert (ROOT / step.argv[0]).is_file(), step.argv[0]
        assert ("--publish" in step.argv) == bool(step.outputs), step.name
        assert step.expected_seconds > 0
    assert make_figures.main(["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "python experiments/compare_actor_init.py --publish" in out and "expected in all" in out


def test_every_publishing_step_writes_docs_only_with_publish(experiments):
    """Each step of make_figures that publishes files runs a script that picks its folder with
    ``provenance.output_folder`` (runs/ by default, docs/ with --publish): compare_rewards.py once wrote
    runs/ even with --publish, so make_figures would have left its published file stale."""
    make_figures = experiments("make_figures")
    steps = [s for s in make_figures.PLAN if s.outputs and "--publish" in s.argv]
    scripts = {s.argv[0].removeprefix("experiments/") for s in steps}
    assert scripts >= {"compare_rewards.py", "ablate_fusion.py", "compare_actor_init.py",
                       "study_real_data.py"}
    for step in steps:
        assert "output_folder(" in (ROOT / step.argv[0]).read_text(), step.name
