"""``siftfunnel merge``: several sweeps of one setting, one frontier report."""

from __future__ import annotations

import json

import pytest
from sift_reference import cli
from sift_reference import frontier_report as fr
from sift_reference.frontier_merge import merge_frontiers, read_frontier
from test_frontier_report import sweep


def _split():
    """The test sweep as two sweeps: noise in one, dropout in the other, the undefended model in both."""
    pts = sweep()
    a = [p for p in pts if p["defence"] in ("none", "noise")]
    b = [p for p in pts if p["defence"] in ("none", "dropout")]
    return pts, fr.build_frontier(a), fr.build_frontier(b)


def test_merged_sweeps_equal_one_sweep_of_all_their_points():
    pts, a, b = _split()
    merged = merge_frontiers([a, b])
    whole = fr.build_frontier(pts)
    for key in ("seeds", "drops", "iso_accuracy", "winners", "mean_points"):
        assert merged[key] == whole[key], key
    assert sorted((p["defence"], p["seed"], p["point"]) for p in merged["points"]) == \
        sorted((p["defence"], p["seed"], p["point"]) for p in whole["points"])
    assert merged["meta"]["merged_from"] == ["sweeps[0]", "sweeps[1]"]


def test_seeds_some_sweep_lacks_are_left_out():
    pts, a, _ = _split()
    b = fr.build_frontier([p for p in pts if p["defence"] in ("none", "dropout") and p["seed"] != 2])
    merged = merge_frontiers([a, b])
    assert merged["seeds"] == [0, 1] and {p["seed"] for p in merged["points"]} == {0, 1}


def test_another_undefended_model_is_refused_naming_the_sweep_and_seed():
    pts, a, _ = _split()
    other = [dict(p, accuracy=p["accuracy"] + 0.001) if p["defence"] == "none" and p["seed"] == 1 else p
             for p in pts if p["defence"] in ("none", "dropout")]
    with pytest.raises(ValueError, match=r"sweeps\[1\]: seed 1's undefended model"):
        merge_frontiers([a, fr.build_frontier(other)])


def test_a_defence_in_two_sweeps_is_refused():
    _, a, _ = _split()
    with pytest.raises(ValueError, match="defence 'noise' is also a defence of first"):
        merge_frontiers([a, a], names=["first", "second"])
    with pytest.raises(ValueError, match="at least two"):
        merge_frontiers([a])


def test_command_writes_the_report_and_refuses_bad_folders(tmp_path, capsys):
    _, a, b = _split()
    for name, doc in (("s1", a), ("s2", b)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "frontier.json").write_text(json.dumps(doc))
    out = tmp_path / "merged"
    assert cli.main(["merge", str(tmp_path / "s1"), str(tmp_path / "s2"), "--out", str(out)]) == 0
    for f in ("frontier.json", "frontier.md", "frontier.png"):
        assert (out / f).is_file()
    assert {d for d in json.loads((out / "frontier.json").read_text())["iso_accuracy"]["3.0"]} == {"noise", "dropout"}
    assert "report:" in capsys.readouterr().out
    assert cli.main(["merge", str(tmp_path / "s1"), str(tmp_path / "s2"), "--out", str(tmp_path / "s1")]) == 2
    assert "--out: must not be one of the merged sweeps" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli.main(["merge", str(tmp_path / "s1"), str(tmp_path / "empty"), "--out", str(out)]) == 2
    assert "holds no frontier.json" in capsys.readouterr().err


@pytest.mark.parametrize("bad, message", [
    (1, r"points\[1\] is not a point record \(a int\)"),
    ({"point": "x", "seed": 0}, r"points\[1\] has no 'defence' name"),
    ({"defence": "x", "point": "x", "seed": [0]}, r"points\[1\] has seed \[0\], not an integer"),
    ({"defence": "x", "point": "x", "seed": True}, r"points\[1\] has seed True, not an integer"),
    ({"defence": "x", "point": "x", "seed": 0, "accuracy": "0.9"}, r"points\[1\] has accuracy '0.9', not a number"),
    ({"defence": "x", "point": "x", "seed": 0, "privacy": 3}, r"points\[1\] has privacy 3, not a record"),
    ({"defence": "x", "point": "x", "seed": 0, "privacy": {"ssim": "high"}},
     r"points\[1\] has privacy.ssim 'high', not a number"),
])
def test_a_malformed_point_record_is_refused_naming_the_file_and_point(tmp_path, bad, message):
    """A hand-edited or truncated frontier.json fails with the sweep, file and point named, never a traceback."""
    _, a, _ = _split()
    doc = dict(a, points=[a["points"][0], bad])
    (tmp_path / "frontier.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"^s1: .*frontier.json " + message):
        read_frontier(tmp_path, "s1")
    doc = dict(a, points=[a["points"][0]])  # the good point alone reads
    (tmp_path / "frontier.json").write_text(json.dumps(doc))
    assert read_frontier(tmp_path, "s1")["points"] == doc["points"]
