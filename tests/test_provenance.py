"""alpha_env.provenance: the provenance block and the publish guard of figure files under docs/."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alpha_env.errors import SettingsError
from alpha_env.provenance import (
    check_publish,
    git_state,
    incomplete_marker,
    is_published_path,
    output_folder,
    portable_paths,
    provenance,
    write_figure_json,
)

ROOT = Path(__file__).resolve().parents[1]


def _repo(tmp_path: Path) -> Path:
    """A tiny git checkout with one committed file and a docs/ folder."""
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "code.py").write_text("x = 1\n")
    (root / "docs" / "a.md").write_text("a\n")
    env = ["-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", *env, "-C", str(root), "add", "."], check=True)
    subprocess.run(["git", *env, "-C", str(root), "commit", "-q", "-m", "init"], check=True)
    return root


def test_block_has_command_seeds_commit_packages_machine_and_wall_time(tmp_path):
    root = _repo(tmp_path)
    started = time.perf_counter()
    block = provenance(["--seeds", "0", "1", "--out", "a b"], [0, 1], started,
                       script="experiments/x.py", root=root)
    assert block["command"] == "python experiments/x.py --seeds 0 1 --out 'a b'"
    assert block["seeds"] == [0, 1] and block["argv"][-1] == "a b"
    assert len(block["commit"]) == 40 and block["clean"] is True and block["dirty_paths"] == []
    assert {"alpha-env", "numpy", "numba", "pandas"} <= set(block["packages"])
    assert block["machine"]["cpu_count"] >= 1 and block["machine"]["python"].startswith("3.")
    assert block["wall_seconds"] >= 0.0
    json.dumps(block)  # JSON-ready


def test_torch_is_recorded_only_when_imported():
    code = ("import sys, time; from alpha_env.provenance import provenance; "
            "p = provenance([], [], time.perf_counter()); "
            "assert 'torch' not in sys.modules, 'provenance imported torch'; "
            "assert 'torch' not in p['packages'], p['packages']")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                   env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_changes_outside_docs_make_the_tree_dirty(tmp_path):
    root = _repo(tmp_path)
    (root / "docs" / "a.md").write_text("changed output\n")
    (root / "docs" / "new.json").write_text("{}\n")
    assert git_state(root)["clean"] is True  # docs/ holds outputs, not code
    (root / "code.py").write_text("x = 2\n")
    state = git_state(root)
    assert state["clean"] is False and state["dirty_paths"] == ["code.py"]
    outside = tmp_path / "not_a_checkout"
    outside.mkdir()
    assert git_state(outside)["commit"] == "unknown" and git_state(outside)["clean"] is False


def test_docs_need_publish_and_a_clean_tree(tmp_path):
    root = _repo(tmp_path)
    started = time.perf_counter()
    clean = provenance([], [0], started, script="x.py", root=root)
    target = root / "docs" / "figures" / "f.json"
    assert is_published_path(target, root) and not is_published_path(root / "runs" / "f.json", root)
    with pytest.raises(SettingsError, match="only with --publish"):
        write_figure_json(target, {"v": 1}, clean, publish=False, root=root)
    assert not target.exists()
    write_figure_json(target, {"v": 1}, clean, publish=True, root=root)
    doc = json.loads(target.read_text())
    assert doc["v"] == 1 and doc["provenance"]["commit"] == clean["commit"] and "dirty" not in doc

    (root / "code.py").write_text("x = 3\n")
    dirty = provenance([], [0], started, script="x.py", root=root)
    with pytest.raises(SettingsError, match="not clean .*code.py.*--allow-dirty"):
        write_figure_json(target, {"v": 2}, dirty, publish=True, root=root)
    assert json.loads(target.read_text())["v"] == 1  # untouched
    write_figure_json(target, {"v": 2}, dirty, publish=True, allow_dirty=True, root=root)
    text = target.read_text()
    assert text.lstrip("{\n ").startswith('"dirty": true')  # first key, where a reader looks
    assert json.loads(text)["WARNING"]


def test_outside_docs_is_always_written_and_marked_when_dirty(tmp_path):
    root = _repo(tmp_path)
    (root / "code.py").write_text("x = 4\n")
    prov = provenance([], [], time.perf_counter(), script="x.py", root=root)
    path = write_figure_json(tmp_path / "runs" / "f.json", {"v": 1}, prov, publish=False, root=root)
    assert json.loads(path.read_text())["dirty"] is True
    assert check_publish(tmp_path / "elsewhere.json", git_state(root), publish=False, root=root) is True


def test_output_folder_and_incomplete_marker(tmp_path):
    assert output_folder("/tmp/x", True, "docs/figures", "c", root=tmp_path) == Path("/tmp/x")
    assert output_folder(None, True, "docs/figures", "c", root=tmp_path) == tmp_path / "docs" / "figures"
    assert output_folder(None, False, "docs/figures", "c", root=tmp_path) == tmp_path / "runs" / "c"
    assert incomplete_marker({"time_limit_minutes": False}) == {"incomplete": False, "guards_fired": []}
    assert incomplete_marker({"b": True, "a": True}) == {"incomplete": True, "guards_fired": ["a", "b"]}


def test_published_files_name_no_folder_of_the_machine_that_made_them(tmp_path):
    """Paths inside the checkout become relative, paths beside it (``../shared``) relative to it, in plain
    values and inside commands; other strings and numbers are untouched; the writer applies it."""
    root = _repo(tmp_path)
    doc = {"out": str(root / "docs"), "root": str(root), "data": str(tmp_path / "shared" / "data" / "x"),
           "command": f"python run.py --checkpoint {root}/artifacts/a.pt --data {tmp_path}/shared/data",
           "nested": [{"p": str(root / "runs" / "r")}, 1.5, None], "other": "/usr/lib/x", "n": 3}
    out = portable_paths(doc, root)
    assert out == {"out": "docs", "root": ".", "data": "../shared/data/x",
                   "command": "python run.py --checkpoint artifacts/a.pt --data ../shared/data",
                   "nested": [{"p": "runs/r"}, 1.5, None], "other": "/usr/lib/x", "n": 3}
    prov = provenance([], [], time.perf_counter(), script="x.py", root=root)
    path = write_figure_json(root / "docs" / "f.json", doc, prov, publish=True, root=root, allow_dirty=True)
    assert str(tmp_path) not in path.read_text()
    assert json.loads(path.read_text())["command"] == out["command"]
