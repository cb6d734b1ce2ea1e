"""Smoke run of benchmarks/bench_quality.py on a tiny demo world (fast models only)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_quality.py"
TINY = ["--source", "demo", "--source-param", "n_users=120", "--source-param", "n_tracks=150",
        "--source-param", "n_artists=30", "--source-param", "n_interactions=3000"]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_quality", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(bench, capsys, *extra: str) -> dict:
    assert bench.main([*TINY, *extra]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1, "the benchmark prints exactly one JSON object"
    return json.loads(lines[0])


def test_random_split_json(bench, capsys) -> None:
    out = _run(bench, capsys, "--models", "popularity", "item_knn", "--k", "5")
    assert out["source"] == "demo"
    p = out["protocol"]
    assert (p["split"], p["seed"], p["k"]) == ("test", 42, 5) and p["exclusions"]
    assert p["split_config"]["cold_user_fraction"] == 0.0
    assert set(out["models"]) == {"popularity", "item_knn"}
    for metrics in out["models"].values():
        assert {"ndcg@5", "recall@5", "coverage@5", "fit_seconds", "eval_seconds"} <= set(metrics)
        assert 0.0 <= metrics["ndcg@5"] <= 1.0
    assert p["n_heldout_untrained_items"] == 0 and "trained_items" not in out["segments"]


def test_trained_items_protocol_next_to_ours(bench, capsys) -> None:
    """A long-tailed catalogue sends some tracks' only plays to test; the published graph-model
    protocol (those rows dropped) is reported next to ours, and can only raise popularity's recall."""
    out = _run(bench, capsys, "--models", "popularity", "--source-param", "n_tracks=1500")
    assert out["protocol"]["n_heldout_untrained_items"] > 0
    seg = out["models"]["popularity"]["by_segment"]
    assert seg["trained_items"]["recall@10"] > seg["overall"]["recall@10"]
    assert out["segments"]["trained_items"]["n_users"] <= out["segments"]["overall"]["n_users"]


def test_split_shares_are_settable(bench, capsys) -> None:
    """NDCG@k depends on the held-out share, so figures are compared at the same one (e.g. 20 %)."""
    base = _run(bench, capsys, "--models", "popularity")
    out = _run(bench, capsys, "--models", "popularity", "--valid-fraction", "0.1", "--test-fraction", "0.2")
    assert (out["protocol"]["split_config"]["valid_fraction"], out["protocol"]["split_config"]["test_fraction"]) == (0.1, 0.2)
    assert out["data"]["test_interactions"] > 1.8 * base["data"]["test_interactions"]
    assert out["data"]["valid_interactions"] == pytest.approx(base["data"]["valid_interactions"], rel=0.1)


def test_cold_user_split_reports_that_segment(bench, capsys) -> None:
    out = _run(bench, capsys, "--models", "popularity", "--split", "cold_user")
    assert out["protocol"]["headline_segment"] == "cold_user"
    assert out["segments"]["cold_user"]["n_users"] > 0
    assert out["models"]["popularity"]["ndcg@10"] == out["models"]["popularity"]["by_segment"]["cold_user"]["ndcg@10"]


def test_bad_arguments_are_named(bench) -> None:
    with pytest.raises(SystemExit, match="unknown model 'nope'"):
        bench.main([*TINY, "--models", "nope"])
    with pytest.raises(SystemExit, match="source 'demo' takes no directory"):
        bench.main([*TINY, "--data-dir", "/tmp"])


def test_seeds_report_spread_and_paired_differences(bench, capsys, tmp_path) -> None:
    """Each seed is its own split; the spread and the paired comparison come from those runs."""
    out = _run(bench, capsys, "--models", "popularity", "item_knn", "--seeds", "42", "7", "--report-dir", str(tmp_path))
    for seed in (42, 7):  # one report per split, none overwritten
        assert json.loads((tmp_path / f"seed_{seed}" / "metrics.json").read_text())["protocol"]["seed"] == seed
    assert out["seeds"] == [42, 7] and [r["protocol"]["seed"] for r in out["runs"]] == [42, 7]
    per_seed = [r["models"]["item_knn"]["ndcg@10"] for r in out["runs"]]
    assert per_seed[0] != per_seed[1], "two seeds are two different splits"
    s = out["across_seeds"]["item_knn"]["by_segment"]["overall"]["ndcg@10"]
    assert out["across_seeds"]["item_knn"]["headline"]["ndcg@10"] == s
    assert "fit_seconds" in out["across_seeds"]["item_knn"]["headline"]
    assert s["mean"] == pytest.approx(sum(per_seed) / 2)
    assert s["std"] == pytest.approx(abs(per_seed[0] - per_seed[1]) / 2**0.5)
    assert (s["min"], s["max"]) == (min(per_seed), max(per_seed))
    pop = [r["models"]["popularity"]["ndcg@10"] for r in out["runs"]]
    pair = out["paired"]["item_knn"]["popularity"]
    assert pair["ndcg@10_diff_mean"] == pytest.approx(sum(a - b for a, b in zip(per_seed, pop)) / 2)
    assert pair["higher_on"] == sum(a > b for a, b in zip(per_seed, pop)) and pair["of"] == 2
    assert out["paired"]["popularity"]["item_knn"]["higher_on"] == sum(b > a for a, b in zip(per_seed, pop))
    assert pair["by_segment"]["overall"] == {k: v for k, v in pair.items() if k != "by_segment"}
    with pytest.raises(SystemExit, match="repeats a seed"):
        bench.main([*TINY, "--models", "popularity", "--seeds", "3", "3"])
