"""The sweep's frontier report: accuracy drops, Pareto flags, iso-accuracy values, winners, files, wall time."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sift_reference import frontier_report as fr

# A 3-seed sweep of two defences at three strengths each, plus the undefended model.
BASE = {0: 0.90, 1: 0.92, 2: 0.88}
# noise: drops 0.5, 2, 6 points; SSIM 0.8, 0.5, 0.2 (+ 0.01 * seed); MSE 0.01, 0.02, 0.08 (x (1 + 0.1 seed))
NOISE = {"sigma": [0.2, 0.5, 1.0], "drop": [0.5, 2.0, 6.0], "ssim": [0.8, 0.5, 0.2], "mse": [0.01, 0.02, 0.08]}
# dropout: drops 1.5, 3, 4 (seed 2: 0.5, 3, 4); SSIM 0.6, 0.45, 0.47 (+ 0.02 * seed): the last is dominated by
# (3, 0.45) in SSIM, while its MSE 0.05 is the highest: on the MSE frontier
DROPOUT = {"p": [0.1, 0.3, 0.5], "drop": [1.5, 3.0, 4.0], "ssim": [0.6, 0.45, 0.47], "mse": [0.01, 0.03, 0.05]}


def _rec(defence, point, strength, seed, acc, ssim, mse):
    return {"defence": defence, "kind": defence, "point": point, "strength": strength, "seed": seed,
            "accuracy": acc, "privacy": {"ssim": ssim, "ssim_attack": "hybrid", "mse": mse, "mse_attack": "rmle",
                                         "psnr": None, "psnr_attack": None, "n_attacks": 4}, "seconds": 10.0}


def sweep(spread=1.0):
    """``spread`` scales the seed-to-seed differences of SSIM (and so the seed sds)."""
    pts = []
    for s, base in BASE.items():
        pts.append(_rec("none", "none", {}, s, base, 0.95, 0.002))
        for i, sigma in enumerate(NOISE["sigma"]):
            pts.append(_rec("noise", f"noise-sigma{sigma}", {"sigma": sigma}, s, base - NOISE["drop"][i] / 100,
                            NOISE["ssim"][i] + 0.01 * spread * s, NOISE["mse"][i] * (1 + 0.1 * s)))
        for i, p in enumerate(DROPOUT["p"]):
            drop = 0.5 if (s == 2 and i == 0) else DROPOUT["drop"][i]
            pts.append(_rec("dropout", f"dropout-p{p}", {"p": p}, s, base - drop / 100,
                            DROPOUT["ssim"][i] + 0.02 * spread * s, DROPOUT["mse"][i] * (1 + 0.1 * s)))
    return pts


@pytest.fixture
def doc():
    return fr.build_frontier(sweep(), meta={"title": "synthetic"})


def test_accuracy_drop_is_against_none_of_the_same_seed(doc):
    assert doc["seeds"] == [0, 1, 2] and doc["drops"] == [1.0, 3.0, 5.0]
    assert len(doc["points"]) == 21
    for p in doc["points"]:
        assert p["accuracy_drop"] == pytest.approx(100 * (BASE[p["seed"]] - p["accuracy"]), abs=1e-8)
        assert p["privacy"]["ssim_attack"] == "hybrid"  # the record travels unchanged
    assert all(p["accuracy_drop"] == 0.0 for p in doc["points"] if p["defence"] == "none")
    # rounded: a point 3 points below its baseline sits exactly on the 3-point iso line
    assert {p["accuracy_drop"] for p in doc["points"] if p["point"] == "dropout-p0.3"} == {3.0}


def test_pareto_flags_per_defence_and_seed_and_on_the_means(doc):
    for p in doc["points"]:
        dominated_ssim = p["point"] == "dropout-p0.5"
        assert p["pareto"] == {"ssim": not dominated_ssim, "mse": True}, (p["point"], p["seed"])
    means = {m["point"]: m for m in doc["mean_points"]}
    assert list(means) == ["none", "noise-sigma0.2", "noise-sigma0.5", "noise-sigma1.0", "dropout-p0.1",
                           "dropout-p0.3", "dropout-p0.5"]
    assert means["dropout-p0.5"]["pareto"] == {"ssim": False, "mse": True}
    assert means["noise-sigma0.5"]["pareto"] == {"ssim": True, "mse": True}
    # mean and sd over seeds: SSIM 0.5, 0.51, 0.52
    assert means["noise-sigma0.5"]["ssim"] == pytest.approx({"mean": 0.51, "sd": 0.01, "n": 3})
    assert means["dropout-p0.1"]["accuracy_drop"]["mean"] == pytest.approx((1.5 + 1.5 + 0.5) / 3)
    assert means["none"]["n_seeds"] == 3 and means["none"]["strength"] == {}


def test_iso_accuracy_values_by_hand(doc):
    noise = {d: doc["iso_accuracy"][d]["noise"] for d in ("1.0", "3.0", "5.0")}
    # at 1 point: from (0.5, 0.8) to (2, 0.5), a third of the way -> 0.7 (+ 0.01 seed)
    assert noise["1.0"]["ssim"]["values"] == pytest.approx([0.70, 0.71, 0.72])
    # at 3: a quarter of the way from (2, 0.5) to (6, 0.2) -> 0.425 (+ 0.01 seed); at 5: 0.275
    assert (noise["3.0"]["ssim"]["mean"], noise["3.0"]["ssim"]["sd"]) == pytest.approx((0.435, 0.01))
    assert noise["5.0"]["ssim"]["mean"] == pytest.approx(0.285)
    # MSE log-linear: a quarter of the decades from 0.02 to 0.08 -> 0.02 * 4 ** 0.25, times 1 + 0.1 seed
    mse = noise["3.0"]["mse"]
    assert mse["log"] is True
    assert mse["values"] == pytest.approx([0.02 * 2**0.5 * (1 + 0.1 * s) for s in range(3)], rel=1e-9)
    assert (mse["mean"], mse["sd"]) == pytest.approx((0.02 * 2**0.5 * 1.1, 0.02 * 2**0.5 * 0.1), rel=1e-9)
    dropout = {d: doc["iso_accuracy"][d]["dropout"] for d in ("1.0", "3.0", "5.0")}
    # exactly at the frontier point (3, 0.45 + 0.02 seed)
    assert (dropout["3.0"]["ssim"]["mean"], dropout["3.0"]["ssim"]["sd"]) == pytest.approx((0.47, 0.02))
    assert (dropout["3.0"]["mse"]["mean"], dropout["3.0"]["mse"]["sd"]) == pytest.approx((0.033, 0.003))
    # at 1 point only seed 2 (whose weakest dropout costs 0.5 points) reaches: out of range
    assert dropout["1.0"]["ssim"]["mean"] is None and dropout["1.0"]["ssim"]["n_in_range"] == 1
    # at 5: the SSIM frontier stops at 3 points (the 4-point model is dominated), the MSE one at 4
    assert dropout["5.0"]["ssim"]["n_in_range"] == 0 and dropout["5.0"]["mse"]["mean"] is None
    assert "none" not in doc["iso_accuracy"]["3.0"]


def test_winner_sentences(doc):
    w = doc["winners"]
    # gap 0.47 - 0.435 = 0.035 > 0.01 + 0.02
    assert w["3.0"].startswith("At an accuracy drop of 3 points, noise has the lowest worst-case SSIM, "
                               "0.435 ± 0.010 (3 seeds), ahead of dropout at 0.470 ± 0.020 (3 seeds)")
    assert "a clear winner" in w["3.0"] and "no clear winner" not in w["3.0"]
    assert w["1.0"].startswith("At an accuracy drop of 1 point, only noise's frontier reaches")
    assert "0.710 ± 0.010 (3 seeds)" in w["1.0"]
    assert "only noise" in w["5.0"]
    # three times the seed spread: 0.455 ± 0.03 vs 0.51 ± 0.06, gap 0.055 < 0.09
    wide = fr.build_frontier(sweep(spread=3.0), drops=[3])["winners"]["3.0"]
    assert "noise has the lowest" in wide and "the gap of 0.055 does not exceed the sum of the two sds (0.090)" in wide
    assert wide.endswith("within the seed spread: no clear winner.")
    far = fr.build_frontier(sweep(), drops=[10])["winners"]["10.0"]
    assert far == "No defence's frontier reaches an accuracy drop of 10 points."


def test_one_seed_has_no_spread_and_no_clear_winner():
    pts = [p for p in sweep() if p["seed"] == 0]
    doc = fr.build_frontier(pts, drops=[3.0])
    assert doc["iso_accuracy"]["3.0"]["noise"]["ssim"]["sd"] is None
    assert "(1 seed)" in doc["winners"]["3.0"] and doc["winners"]["3.0"].endswith("no clear winner.")


def test_iso_table(doc):
    md = fr.iso_table_md(doc)
    lines = md.splitlines()
    assert lines[0] == ("| defence | SSIM @ -1 pt | MSE @ -1 pt | SSIM @ -3 pt | MSE @ -3 pt | SSIM @ -5 pt "
                        "| MSE @ -5 pt |")
    noise = next(line for line in lines if line.startswith("| noise |"))
    dropout = next(line for line in lines if line.startswith("| dropout |"))
    assert "0.435 ± 0.010" in noise and "0.0311 ± 0.0028" in noise
    assert dropout.split(" | ")[1] == "out of range (1/3 seeds)"
    assert dropout.endswith("| out of range | out of range |")
    assert "0.470 ± 0.020" in dropout and "0.0330 ± 0.0030" in dropout
    assert f"- {doc['winners']['3.0']}" in lines
    assert fr._fmt_mse(2.5e-4, 1.2e-5) == "2.50e-04 ± 1.2e-05"


def test_missing_privacy_is_kept_but_ignored():
    pts = sweep()
    target = next(p for p in pts if p["point"] == "noise-sigma0.5" and p["seed"] == 1)
    target["privacy"]["ssim"] = None
    doc = fr.build_frontier(pts)
    kept = next(p for p in doc["points"] if p["point"] == "noise-sigma0.5" and p["seed"] == 1)
    assert kept["pareto"] == {"ssim": False, "mse": True}
    # without it seed 1's noise frontier at 3 points runs from (0.5, 0.81) to (6, 0.21): 0.81 - 0.6 * 2.5 / 5.5
    assert doc["iso_accuracy"]["3.0"]["noise"]["ssim"]["values"][1] == pytest.approx(0.81 - 0.6 * 2.5 / 5.5)
    assert next(m for m in doc["mean_points"] if m["point"] == "noise-sigma0.5")["ssim"]["n"] == 2


def test_missing_none_names_the_seed():
    pts = [p for p in sweep() if not (p["defence"] == "none" and p["seed"] == 1)]
    with pytest.raises(ValueError, match="seed 1"):
        fr.build_frontier(pts)
    with pytest.raises(ValueError, match="points"):
        fr.build_frontier([])
    with pytest.raises(ValueError, match="drops"):
        fr.build_frontier(sweep(), drops=["three"])
    with pytest.raises(ValueError, match="lacks"):
        fr.build_frontier([{"defence": "none"}])


def test_report_files(tmp_path, doc):
    fr.write_frontier_report(tmp_path / "out", doc)
    out = tmp_path / "out"
    assert (out / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    loaded = json.loads((out / "frontier.json").read_text())
    assert loaded == doc and loaded["schema_version"] == 1 and loaded["meta"] == {"title": "synthetic"}
    md = (out / "frontier.md").read_text()
    assert md.startswith("# synthetic\n")
    for text in ("worst case over the attack suite", "percentage points", "log-linear for MSE", "out of range",
                 "![privacy-utility frontiers](frontier.png)", "| dropout | p = 0.5 | 3 | "):
        assert text in md, text
    assert "| none | — | 3 | 90.00 ± 2.00 | 0.00 ± 0.00 | 0.950 ± 0.000 | 0.0020 ± 0.0000 | yes / yes |" in md
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_plot_with_missing_values_and_one_seed(tmp_path):
    pts = [p for p in sweep() if p["seed"] == 0]
    pts[1]["privacy"]["mse"] = None
    fr.plot_frontier(fr.build_frontier(pts), tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 0


def test_predict_wall_time_lpt_by_hand():
    # LPT on 2 workers: 5 | 4, then 3 -> 7, 3 -> 8, 3 -> 10; the optimum {5, 4} {3, 3, 3} is 9
    got = fr.predict_wall_time([5, 4, 3, 3, 3], 2)
    assert got == {"workers": 2, "predicted_s": 10.0, "lower_bound_s": 9.0, "total_s": 18.0, "n_units": 5}
    # 3 workers: 5 | 4 | 3, then 3 -> 6, 3 -> 7; bound max(5, 18 / 3)
    got = fr.predict_wall_time([5, 4, 3, 3, 3], 3)
    assert (got["predicted_s"], got["lower_bound_s"]) == (7.0, 6.0)
    # a first phase (two generators of 2 s and 1 s) runs before: + 2 s on both
    got = fr.predict_wall_time([5, 4, 3, 3, 3], 2, first=[2.0, 1.0])
    assert (got["predicted_s"], got["lower_bound_s"], got["total_s"], got["n_units"]) == (12.0, 11.0, 21.0, 7)
    # one worker: the sum; more workers than units: the longest unit
    assert fr.predict_wall_time([1, 2, 3], 1)["predicted_s"] == 6.0
    assert fr.predict_wall_time([1, 2, 3], 8)["predicted_s"] == 3.0
    assert fr.predict_wall_time([], 4)["predicted_s"] == 0.0


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_predict_wall_time_rejects_bad_workers(workers):
    with pytest.raises(ValueError, match="workers"):
        fr.predict_wall_time([1.0], workers)


def test_predict_wall_time_rejects_bad_durations():
    for bad, name in (([1.0, -2.0], "unit_seconds"), ([math.nan], "unit_seconds"), ([None], "unit_seconds")):
        with pytest.raises(ValueError, match=name):
            fr.predict_wall_time(bad, 2)
    with pytest.raises(ValueError, match="first"):
        fr.predict_wall_time([1.0], 2, first=[np.inf])
