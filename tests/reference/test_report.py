"""Report writing: Spearman, the results.json schema, report.md and the figures; atomic caching."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sift_reference import cache, report


@settings(deadline=None, max_examples=60)
@given(st.lists(st.tuples(st.integers(-5, 5), st.floats(-10, 10, allow_nan=False)), min_size=3, max_size=25))
def test_spearman_matches_scipy_with_ties(pairs):
    stats = pytest.importorskip("scipy.stats")
    a, b = np.array(pairs, dtype=float).T
    got = report.spearman(a, b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        assert got["rho"] is None and "constant" in got["note"]
    else:
        assert got["rho"] == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)


def test_rankdata_averages_ties():
    np.testing.assert_array_equal(report.rankdata([10, 20, 10, 30]), [1.5, 3, 1.5, 4])


def test_spearman_undefined_cases():
    assert report.spearman([1, 2], [3, 4])["rho"] is None
    assert report.spearman([1, 2, float("nan"), 4], [1, 2, 3, 4])["n"] == 3
    assert report.spearman([1, 2, 3], [3, 2, 1])["rho"] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="a and b"):
        report.spearman([1, 2, 3], [1, 2])


def _row(name, acc, mse, diff, *, hybrid_mse=None):
    attack = {"mse": mse, "psnr": 10 * np.log10(1 / mse), "ssim": 1 - 5 * mse}
    attacks = {"inverse_network": dict(attack), "rmle": dict(attack)}
    if hybrid_mse is not None:
        attacks["hybrid"] = {"mse": hybrid_mse, "psnr": 10 * np.log10(1 / hybrid_mse), "ssim": 1 - 5 * hybrid_mse,
                             "feature_error": 0.01, "n_images": 4}
    return {"defence": name, "accuracy": acc, "edge_params": 100, "edge_flops": 2000, "feature_size": 48,
            "attacks": attacks, "criterion": {"difficulty_score": diff, "note": "x"}}


def test_results_schema_and_files(tmp_path):
    rows = [_row("none", 0.9, 0.01, 0.1, hybrid_mse=0.005), _row("siftfunnel", 0.88, 0.05, 0.7, hybrid_mse=0.06),
            _row("noise", 0.8, 0.03, 0.4, hybrid_mse=0.02)]
    rows[2]["attacks"]["rmle"] = {"failed": True, "reason": "FloatingPointError: diverged"}
    spec = {"experiment": {"name": "t", "seed": 0}, "training": {"device": "cpu"}}
    res = report.build_results(spec, "digits", "torch", rows)
    assert set(res) == {"schema_version", "versions", "spec", "dataset", "backend", "rows"}
    assert res["versions"]["device"] == "cpu" and res["versions"]["numpy"] == np.__version__
    r = res["rows"][1]
    assert set(r) == {"defence", "accuracy", "accuracy_drop", "edge_params", "edge_flops", "feature_size",
                      "privacy", "attacks", "criterion"}
    assert r["accuracy_drop"] == pytest.approx(0.02)
    assert set(r["attacks"]) == {"inverse_network", "rmle", "hybrid"}
    assert set(r["attacks"]["hybrid"]) == {"mse", "psnr", "ssim", "feature_error", "n_images"}
    # the worst case: the lowest MSE (hybrid for none, the two equal older attacks for siftfunnel)
    assert res["rows"][0]["privacy"]["mse"] == 0.005 and res["rows"][0]["privacy"]["mse_attack"] == "hybrid"
    assert r["privacy"]["mse"] == 0.05 and r["privacy"]["ssim"] == pytest.approx(0.75)
    assert res["rows"][2]["privacy"]["n_attacks"] == 2  # the failed rMLE is left out
    originals = np.random.default_rng(0).random((4, 1, 8, 8)).astype(np.float32)
    recons = {a: {row["defence"]: originals * 0.5 for row in rows} for a in ("inverse_network", "rmle", "hybrid")}
    corr = report.write_report(tmp_path, res, originals, recons)
    # difficulty and the worst-case MSE (0.005, 0.05, 0.02) have the same order over the three rows
    assert corr["worst_case"]["rho"] == pytest.approx(1.0)
    assert corr["inverse_network"]["rho"] == pytest.approx(1.0)
    assert json.loads((tmp_path / "results.json").read_text()) == json.loads(cache.dumps(res))
    md = (tmp_path / "report.md").read_text()
    assert "| siftfunnel | 88.00 | +2.00 |" in md and "rho = +1.000" in md
    assert "**0.0050** (Hybrid)" in md and "noise / rMLE: FloatingPointError: diverged" in md
    for png in ("privacy_utility.png", "reconstructions.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [f.name for f in tmp_path.iterdir() if ".tmp" in f.name]  # figures written atomically


def test_cache_units_and_atomic_writes(tmp_path):
    p = tmp_path / "u.json"
    cache.save_unit(p, "k1", {"v": np.float32(1.5), "bad": float("nan"), "arr": np.arange(2)})
    assert cache.load_unit(p, "k1") == {"v": 1.5, "bad": None, "arr": [0, 1]}
    assert cache.load_unit(p, "k2") is None  # settings changed -> recompute
    p.write_text("{ truncated")
    assert cache.load_unit(p, "k1") is None
    assert cache.settings_hash({"a": 1, "b": 2}) == cache.settings_hash({"b": 2, "a": 1})
    assert cache.settings_hash({"a": 1}) != cache.settings_hash({"a": 2})

    class Boom(Exception):
        pass

    def failing(fh):
        fh.write(b"partial")
        raise Boom

    with pytest.raises(Boom):
        cache._atomic(tmp_path / "x.json", failing)
    assert not (tmp_path / "x.json").exists()
    assert [f.name for f in tmp_path.iterdir()] == ["u.json"]  # no temp file left behind


def test_summarize_mean_and_sd_over_runs():
    runs = [report.build_results({}, "d", "torch", [_row("none", acc, 0.01 + i * 0.01, 0.1),
                                                    _row("siftfunnel", acc - 0.02, 0.05, 0.5)])
            for i, acc in enumerate((0.9, 0.8))]
    table = report.summarize(runs).splitlines()
    assert table[0].startswith("| defence | n | accuracy % | drop (pts) | worst MSE | worst SSIM | InvNet MSE")
    # accuracy 90 and 80: mean 85, sample sd 7.07; MSE 0.01 and 0.02: mean 0.015, sd 0.0071 (the worst
    # case equals both attacks' here)
    assert table[2].startswith("| none | 2 | 85.00 ± 7.07 | 0.00 ± 0.00 | 0.0150 ± 0.0071 | 0.925 ± 0.035 |")
    assert "| siftfunnel | 2 | 83.00 ± 7.07 | 2.00 ± 0.00 |" in table[3]
    with pytest.raises(ValueError, match="results"):
        report.summarize([])


def test_summarize_command_prints_the_table_and_each_runs_rank_correlation(tmp_path, capsys):
    from sift_reference import cli

    dirs = []
    for seed, rho in ((0, 0.5), (1, None)):
        d = tmp_path / f"run{seed}"
        rows = [_row("none", 0.9, 0.01, 0.1), _row("siftfunnel", 0.88, 0.05, 0.7)]
        cache.write_json(d / "results.json", report.build_results({"experiment": {"seed": seed}}, "digits", "torch",
                                                                    rows))
        corr = {"inverse_network": {"rho": rho, "n": 2}, "rmle": {"rho": 1.0, "n": 2}}
        cache.write_json(d / "rank_correlation.json", {"difficulty_score_vs_mse": corr})
        dirs.append(str(d))
    assert cli.main(["summarize", *dirs]) == 0
    out = capsys.readouterr().out
    assert "2 run(s); dataset: digits; seeds: 0, 1" in out
    assert "| siftfunnel | 2 | 88.00 ± 0.00 | 2.00 ± 0.00 |" in out
    assert "Spearman(difficulty_score, inverse_network MSE) per run: +0.50, n/a" in out
    assert "Spearman(difficulty_score, rmle MSE) per run: +1.00, +1.00" in out
