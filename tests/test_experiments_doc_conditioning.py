"""experiments/doc_conditioning.py: matching vs shuffled documents, end to end with a tiny budget."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "doc_conditioning.py"


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_quick_run_writes_both_conditions(tmp_path):
    out = tmp_path / "out"
    done = _run(["--quick", "--checkpoint", str(tmp_path / "decoder.pt"), "--quick-pretrain",
                 "--out", str(out)], tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "contrast_quick.json").read_text())
    markdown = (out / "contrast_quick.md").read_text()
    assert "| matching |" in markdown and "| shuffled |" in markdown and "Paired difference" in markdown
    runs = report["runs"]
    assert {(r["seed"], r["condition"]) for r in runs} == {(0, "matching"), (0, "shuffled")}
    # equal training budgets, and both agents evaluated on the same held-out dates and samples
    assert all(r["evaluations"] == runs[0]["evaluations"] >= 40 for r in runs)
    keys = [sorted((e["date"], e["sample"]) for e in r["episodes"]) for r in runs]
    assert keys[0] == keys[1] and len(keys[0]) == len(report["eval_dates"])
    valid = report["eval_dates"]
    assert all(d > str(np.datetime64("2010-01-04")) for d in valid)
    matching = next(r for r in runs if r["condition"] == "matching")["heldout"]["mean_reward"]
    shuffled = next(r for r in runs if r["condition"] == "shuffled")["heldout"]["mean_reward"]
    assert report["paired"]["mean_reward"]["diffs"] == pytest.approx([matching - shuffled])
    assert np.isfinite(report["reference"]["oracle_reward"])


def test_shuffled_table_keeps_dates_and_vectors_but_breaks_the_match():
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        from doc_conditioning import Args, build_market, document_table, evaluation_panel
    finally:
        sys.path.remove(str(ROOT / "experiments"))
    panel = build_market(Args(quick=True))
    plain, shuffled = document_table(panel, None), document_table(panel, 1)
    assert np.array_equal(plain.dates, shuffled.dates)
    # the same multiset of vectors, in another order
    assert np.allclose(np.sort(plain.vectors, axis=0), np.sort(shuffled.vectors, axis=0))
    assert not np.allclose(plain.vectors, shuffled.vectors)
    # the evaluation panel's train split reaches the end of the valid split; held-out dates are valid dates
    eval_panel, idx = evaluation_panel(panel, "valid")
    assert eval_panel.splits["train"].stop == panel.splits["valid"].stop
    assert idx[0] == panel.splits["valid"].start and idx[-1] == panel.splits["valid"].stop - 1


def test_contrast_market_flips_the_reversal_sign_with_the_regime():
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        from doc_conditioning import contrast_planted
    finally:
        sys.path.remove(str(ROOT / "experiments"))
    signals = contrast_planted()
    reversal = [p for p in signals if p.name == "reversal"]
    assert {p.regimes for p in reversal} == {("calm",), ("stressed",)}
    assert reversal[0].strength * reversal[1].strength < 0
