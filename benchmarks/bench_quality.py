"""Recommendation quality of every model plugin under one protocol; prints ONE JSON object.

    python benchmarks/bench_quality.py --source lastfm_hetrec --data-dir /work/shared/data/hetrec2011-lastfm-2k
    python benchmarks/bench_quality.py --source movielens --data-dir /work/shared/data/movielens-100k --split temporal
    python benchmarks/bench_quality.py --source demo --source-param n_users=300 --split cold_user

Protocol: ingest -> split (``--split``: ``random`` / ``temporal`` 80/10/10 with no cold holdout
(``--valid-fraction`` / ``--test-fraction`` change the shares),
or ``cold_user`` / ``cold_item`` holding out ``--cold-fraction`` of users / tracks) -> encoders fit
on train -> every model fitted with the same seed -> :func:`hybridrec_core.evaluation.evaluate`
(full-catalogue ranking, train items excluded, test split). The regression figures come from the
hybrid model with ``objective: regression``, reported as ``hybrid_regression``. For the cold
splits the headline metrics are those of the ``cold_user`` / ``cold_item`` segment. Each model's
``by_segment`` also holds ``trained_items`` when some held-out rows have a track without training
rows (``protocol.n_heldout_untrained_items``): the same lists judged without them, the protocol of
the published graph-model figures (SELFRec / QRec skip such test rows).

``--seeds 42 1 2 3`` repeats the whole protocol once per seed (a new random split and new model
seeds each time) and prints ``runs`` (one single-seed object each) with ``across_seeds`` (mean,
sample std, min, max of every model's headline figures and per-segment metrics) and ``paired``
(each model against each other: mean difference of NDCG@k, headline and per segment, and on how
many splits it was higher). One split's NDCG@10 on Last.fm moves by about 0.016 between seeds,
more than the gaps between the models, so a comparison of two figures from different splits (e.g.
ours against a paper's) says little; the paired differences on the same splits are what separate
the models.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hybridrec_core import api
from hybridrec_core.evaluation import evaluate, jsonable
from hybridrec_core.interfaces import FitContext, PluginKind
from hybridrec_core.plugins import get_plugin_manager

log = logging.getLogger("bench_quality")
REGRESSION_ENTRY = "hybrid_regression"
DATA_DIR_FIELDS = ("data_dir", "path", "directory", "root")
HEADLINE_SEGMENT = {"random": "overall", "temporal": "overall", "cold_user": "cold_user", "cold_item": "cold_item"}
SEGMENT_SUMMARY = ("ndcg@{k}", "recall@{k}", "rmse")


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _pairs(items: list[str], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"{what} {item!r} must look like key=value")
        out[key] = _parse_value(value)
    return out


def source_spec(name: str, data_dir: str | None, params: dict[str, Any]) -> dict[str, Any]:
    """The source plugin spec, with ``--data-dir`` put in whichever path field the source has."""
    fields = get_plugin_manager().get(PluginKind.SOURCE, name).cls.Config.model_fields
    params = dict(params)
    if data_dir is not None:
        field = next((f for f in DATA_DIR_FIELDS if f in fields), None)
        if field is None:
            raise SystemExit(f"source {name!r} takes no directory (fields: {sorted(fields)}); drop --data-dir")
        params[field] = data_dir
    return {"name": name, "params": params}


def split_config(
    split: str, cold_fraction: float, seed: int, valid_fraction: float = 0.1, test_fraction: float = 0.1
) -> dict[str, Any]:
    """random / temporal: 80/10/10 (by default) with no cold holdout; cold_*: random plus the cold holdout."""
    cfg: dict[str, Any] = {"method": "temporal" if split == "temporal" else "random", "seed": seed,
                           "valid_fraction": valid_fraction, "test_fraction": test_fraction,
                           "cold_user_fraction": 0.0, "cold_item_fraction": 0.0}
    if split in ("cold_user", "cold_item"):
        cfg[f"{split}_fraction"] = cold_fraction
    return cfg


def model_specs(
    names: list[str] | None, params: dict[str, dict[str, Any]]
) -> list[tuple[str, str, dict[str, Any]]]:
    """(entry name, plugin name, params): every model plugin plus ``hybrid_regression``."""
    registered = get_plugin_manager().names(PluginKind.MODEL)
    wanted = names or registered + ([REGRESSION_ENTRY] if "hybrid" in registered else [])
    specs = []
    for entry in wanted:
        if entry == REGRESSION_ENTRY:
            merged = {**params.get("hybrid", {}), **params.get(entry, {}), "objective": "regression"}
            specs.append((entry, "hybrid", merged))
        elif entry in registered:
            specs.append((entry, entry, params.get(entry, {})))
        else:
            raise SystemExit(f"unknown model {entry!r}; registered: {registered} (+ {REGRESSION_ENTRY})")
    return specs


def run(args: argparse.Namespace) -> dict[str, Any]:
    model_params: dict[str, dict[str, Any]] = {}
    for key, value in _pairs(args.model_param, "--model-param").items():
        model, _, field = key.partition(".")
        model_params.setdefault(model, {})[field] = value
    specs = model_specs(args.models, model_params)
    with tempfile.TemporaryDirectory(prefix="bench_quality_") as tmp:
        cfg = api.default_config(
            seed=args.seed,
            device=args.device,
            source=source_spec(args.source, args.data_dir, _pairs(args.source_param, "--source-param")),
            split=split_config(args.split, args.cold_fraction, args.seed, args.valid_fraction, args.test_fraction),
            evaluation={"k": args.k, "max_users": args.max_users, "batch_users": args.batch_users},
            storage={"database": str(Path(tmp) / "bench.duckdb"), "artifacts_dir": str(Path(tmp) / "artifacts")},
        )
        t0 = time.perf_counter()
        store = api.open_store(cfg)
        api.ingest(cfg, store)
        features = api.build_features(cfg, store)
        data_seconds = time.perf_counter() - t0
        del store

    pm = get_plugin_manager()
    models, histories, fit_seconds, devices = {}, {}, {}, {}
    for entry, plugin, params in specs:
        log.info("fitting %s", entry)
        model = pm.create(PluginKind.MODEL, plugin, params)
        t0 = time.perf_counter()
        history = model.fit(features, FitContext(seed=args.seed, device=args.device))
        fit_seconds[entry] = time.perf_counter() - t0
        devices[entry] = history.device
        histories[entry] = history
        models[entry] = model
    log.info("evaluating %s", list(models))
    metrics = [pm.create(PluginKind.METRIC, m.name, m.params) for m in cfg.metrics]
    result = evaluate(features, models, metrics, cfg.evaluation, seed=args.seed, histories=histories)
    if args.report_dir:
        from hybridrec_core.report import write_report

        write_report(result, Path(args.report_dir))

    headline = HEADLINE_SEGMENT[args.split]
    k = args.k
    out_models: dict[str, Any] = {}
    for entry in result.models:
        values = dict(result.values[entry].get(headline, {}))
        values["fit_seconds"] = round(fit_seconds.get(entry, 0.0), 3)
        values["eval_seconds"] = round(result.seconds[entry], 3)
        values["fitted_by_evaluation"] = entry not in models
        values["by_segment"] = {
            seg: {m.format(k=k): v[m.format(k=k)] for m in SEGMENT_SUMMARY if m.format(k=k) in v}
            for seg, v in result.values[entry].items()
        }
        out_models[entry] = values
    protocol = {key: result.protocol[key] for key in (
        "split", "seed", "k", "ranking", "exclusions", "candidate_set", "n_users_evaluated",
        "n_users_skipped_no_heldout", "n_users_sampled_out", "n_heldout_untrained_items", "baseline",
        "target_scale_models",
    )}
    protocol.update({"split_method": args.split, "headline_segment": headline, "split_config": cfg.split.model_dump()})
    return {
        "source": args.source,
        "data_dir": args.data_dir,
        "protocol": protocol,
        "data": {"users": features.n_users - 1, "items": features.n_items - 1,
                 **{f"{name}_interactions": len(s) for name, s in features.splits.items()},
                 "seconds": round(data_seconds, 3)},
        "segments": {seg: {"n_users": info["n_users"], "description": info["description"]}
                     for seg, info in result.segments.items()},
        "devices": devices,
        "models": jsonable(out_models),
    }


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _spread(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


def across_seeds(runs: list[dict[str, Any]], k: int) -> dict[str, Any]:
    """Per model: the spread over the runs of every headline figure (metrics, fit seconds) and
    every per-segment metric (segments and models present in every run), and each model against
    each other on NDCG@k (headline and per segment)."""
    models = [m for m in runs[0]["models"] if all(m in r["models"] for r in runs)]
    spread: dict[str, Any] = {}
    for m in models:
        entries = [r["models"][m] for r in runs]
        segments = set.intersection(*(set(e["by_segment"]) for e in entries))
        spread[m] = {
            "headline": {key: _spread([e[key] for e in entries]) for key, value in entries[0].items()
                         if _number(value) and all(_number(e.get(key)) for e in entries)},
            "by_segment": {
                seg: {metric: _spread([e["by_segment"][seg][metric] for e in entries])
                      for metric in entries[0]["by_segment"][seg]
                      if all(_number(e["by_segment"][seg].get(metric)) for e in entries)}
                for seg in sorted(segments)
            },
        }
    # Paired NDCG@k per segment; the headline figures are the headline segment's, so its entry is
    # also the pair's top level (no second comparison of the same numbers).
    key = f"ndcg@{k}"
    headline = runs[0]["protocol"]["headline_segment"]
    paired: dict[str, Any] = {}
    for a in models:
        for b in (b for b in models if b != a):
            shared = [seg for seg in spread[a]["by_segment"]
                      if key in spread[a]["by_segment"][seg] and key in spread[b]["by_segment"].get(seg, {})]
            if headline not in shared:
                continue
            by_segment = {}
            for seg in shared:
                x, y = ([r["models"][m]["by_segment"][seg][key] for r in runs] for m in (a, b))
                by_segment[seg] = {f"{key}_diff_mean": statistics.fmean(u - v for u, v in zip(x, y)),
                                   "higher_on": sum(u > v for u, v in zip(x, y)), "of": len(runs)}
            paired.setdefault(a, {})[b] = {**by_segment[headline], "by_segment": by_segment}
    return {"across_seeds": spread, "paired": paired}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", required=True, help="source plugin name (demo, lastfm_hetrec, movielens, ...)")
    p.add_argument("--data-dir", default=None, help="dataset directory handed to the source")
    p.add_argument("--split", choices=sorted(HEADLINE_SEGMENT), default="random")
    p.add_argument("--models", nargs="*", default=None, help=f"model plugins (default: all + {REGRESSION_ENTRY})")
    p.add_argument("--model-param", action="append", default=[], metavar="MODEL.FIELD=VALUE",
                   help="model config override, JSON values (e.g. hybrid.epochs=5)")
    p.add_argument("--source-param", action="append", default=[], metavar="FIELD=VALUE",
                   help="source config override, JSON values (e.g. n_users=300)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="run the protocol once per seed (split and models) and report the spread and paired differences")
    p.add_argument("--valid-fraction", type=float, default=0.1, help="share of interactions for validation")
    p.add_argument("--test-fraction", type=float, default=0.1,
                   help="share of interactions for test (NDCG@k grows with it: compare figures at the same share)")
    p.add_argument("--cold-fraction", type=float, default=0.1, help="share held out for the cold splits")
    p.add_argument("--max-users", type=int, default=None, help="evaluate a seeded sample of users")
    p.add_argument("--batch-users", type=int, default=1024)
    p.add_argument("--device", default="auto")
    p.add_argument("--report-dir", default=None, help="also write the evaluation report (metrics.json, report.md, plots); with --seeds one seed_N folder each")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    if not args.seeds:
        print(json.dumps(run(args), allow_nan=False))
        return 0
    if len(set(args.seeds)) != len(args.seeds):
        raise SystemExit(f"--seeds {args.seeds} repeats a seed; each must be a different split")
    runs = []
    for seed in args.seeds:
        log.info("seed %d", seed)
        report_dir = str(Path(args.report_dir) / f"seed_{seed}") if args.report_dir else None
        runs.append(run(argparse.Namespace(**{**vars(args), "seed": seed, "report_dir": report_dir})))
    out = {"source": args.source, "data_dir": args.data_dir, "seeds": args.seeds,
           "headline_segment": runs[0]["protocol"]["headline_segment"], **across_seeds(runs, args.k), "runs": runs}
    print(json.dumps(jsonable(out), allow_nan=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
