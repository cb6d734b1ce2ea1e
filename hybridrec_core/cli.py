"""The ``hybridrec`` command line. Every subcommand is a thin wrapper over :mod:`hybridrec_core.api`.

Errors hybridrec raises on purpose (:class:`HybridrecError`) print one line to stderr and exit 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import yaml

from hybridrec_core import __version__
from hybridrec_core.errors import ArtifactError, ConfigError, HybridrecError
from hybridrec_core.hookspecs import HOOK_FOR_KIND

EXIT_ERROR = 2


# -- small output helpers ------------------------------------------------------------------------
def format_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain left-aligned text table (no extra dependency, stable for tests)."""
    cells = [[str(c) for c in columns]] + [["" if r.get(c) is None else str(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _one_line(message: str) -> str:
    """Collapse a multi-line error (pydantic lists one problem per line) into one line."""
    parts = [p.strip() for p in str(message).splitlines() if p.strip()]
    out = ""
    for part in parts:
        out += part if not out else (" " if out.endswith(":") else "; ") + part
    return out


def _shorten(text: str, width: int = 72) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _progress_default() -> bool:
    env = os.environ.get("HYBRIDREC_PROGRESS")
    if env is not None:
        return env.lower() in {"1", "true", "yes"}
    return sys.stderr.isatty()


# -- config ----------------------------------------------------------------------------------------
def _load(path: str | None, validate: bool = True):
    from hybridrec_core import api

    cfg = api.load_config(path) if path else api.default_config()
    if validate:
        cfg.validate_plugins()
    return cfg


# -- subcommands -----------------------------------------------------------------------------------
def cmd_plugins(args: argparse.Namespace) -> int:
    from hybridrec_core.plugins import get_plugin_manager

    pm = get_plugin_manager()
    infos = pm.all(args.kind)
    if args.json:
        print(json.dumps([i.as_dict() for i in infos], indent=2))
    else:
        rows = [{**i.as_dict(), "description": _shorten(i.description)} for i in infos]
        print(format_table(rows, ["name", "kind", "distribution", "version", "description"]))
    for failure in pm.failures:
        print(
            f"warning: entry point {failure.entry_point!r} from {failure.distribution!r} failed to "
            f"load: {failure.error}",
            file=sys.stderr,
        )
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    cfg = _load(args.config, validate=False)
    print(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False).rstrip())
    return 0


def cmd_config_schema(args: argparse.Namespace) -> int:
    from hybridrec_core.config import PipelineConfig

    print(json.dumps(PipelineConfig.model_json_schema(), indent=2))
    return 0


def cmd_config_reference(args: argparse.Namespace) -> int:
    from hybridrec_core.config_reference import generate_reference

    text = generate_reference(builtin_only=args.builtin_only)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from hybridrec_core import api

    cfg = _load(args.config)
    store = api.open_store(cfg)
    api.ingest(cfg, store)
    features = api.build_features(cfg, store)
    trained = api.train(cfg, features, progress=args.progress)
    for name, t in trained.items():
        best = "" if t.history.best_metric is None else f", best {t.history.monitor}={t.history.best_metric:.4f}"
        print(f"trained {name} in {t.history.seconds:.1f}s on {t.history.device}{best}: {t.artifact}")
    print(f"features: {features.n_users - 1} users, {features.n_items - 1} tracks; store {cfg.storage.database}")
    return 0


def _load_trained(cfg, features, name: str | None = None):
    """A saved model, or a clear error saying to train first."""
    from hybridrec_core import api

    name = name or cfg.primary_model
    path = Path(cfg.storage.artifacts_dir) / "models" / name
    if not path.exists():
        raise ArtifactError(f"no trained artifact for model {name!r} at {path}; run `hybridrec train` first")
    return api.load_trained(cfg, features, name)


def _load_trained_all(cfg, features) -> dict[str, Any]:
    return {spec.name: _load_trained(cfg, features, spec.name) for spec in cfg.models}


def _load_features(cfg):
    from hybridrec_core import api

    if not Path(cfg.storage.database).exists():
        raise ConfigError(f"database {cfg.storage.database} does not exist; run `hybridrec train` first")
    return api.load_features(cfg)


def _print_evaluation(result: Any) -> None:
    """Overall metrics, one row per model (the report directory has the segments and plots)."""
    import pandas as pd

    frame = result.to_frame()
    overall = frame[frame.segment == "overall"].pivot(index="model", columns="metric", values="value")
    with pd.option_context("display.width", 200, "display.max_columns", 50, "display.precision", 4):
        print(overall.to_string())


def cmd_evaluate(args: argparse.Namespace) -> int:
    from hybridrec_core import api

    cfg = _load(args.config)
    features = _load_features(cfg)
    trained = _load_trained_all(cfg, features)
    result = api.evaluate(cfg, features, trained, report_dir=args.report_dir)
    _print_evaluation(result)
    if args.report_dir:
        print(f"report written to {args.report_dir}")
    return 0


def recommendations_table(frame: Any) -> str:
    """user, rank, track, artist, genres, score: the readable part of the recommend frame."""
    import pandas as pd

    shown = pd.DataFrame({
        "user": frame["user_id"],
        "rank": frame["rank"],
        "track": frame["title"].fillna(frame["track_id"]),
        "artist": frame["artist"],
        "genres": frame["genres"],
        "score": frame["score"].map("{:.4f}".format),
    })
    return format_table(shown.to_dict("records"), list(shown.columns))


def cmd_recommend(args: argparse.Namespace) -> int:
    from hybridrec_core import api

    cfg = _load(args.config)
    features = _load_features(cfg)
    trained = _load_trained(cfg, features, args.model)
    frame = api.recommend(cfg, features, trained.model, users=list(args.user), k=args.k)
    if args.json:
        print(frame.to_json(orient="records", indent=2))
    else:
        print(recommendations_table(frame))
    if args.write:
        from hybridrec_core.artifacts import read_manifest
        from hybridrec_core.recommend import write_recommendations

        version = f"{trained.name}:{read_manifest(trained.artifact).get('version_id', 'unknown')}"
        # Only these users' lists change; everyone else's stay (a full run is the Dagster asset's job).
        rows = write_recommendations(api.open_store(cfg), frame, version, mode="merge", users=list(args.user))
        print(f"merged {rows} rows for {len(set(args.user))} user(s) into table recommendations", file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from hybridrec_core import api

    out = Path(args.out).resolve()
    cfg = api.load_config(args.config) if args.config else api.default_config()
    storage = {"database": str(out / "hybridrec.duckdb"), "artifacts_dir": str(out / "artifacts")}
    cfg = cfg.model_copy(update={"storage": cfg.storage.model_copy(update=storage)})
    cfg.validate_plugins()
    out.mkdir(parents=True, exist_ok=True)
    store = api.open_store(cfg)
    api.ingest(cfg, store)
    print(f"[1/5] ingested {cfg.source.name!r} -> {cfg.storage.database}", flush=True)
    features = api.build_features(cfg, store)
    sizes = ", ".join(f"{name} {len(split)}" for name, split in features.splits.items())
    print(f"[2/5] features: {features.n_users - 1} users, {features.n_items - 1} tracks; {sizes}", flush=True)
    trained = api.train(cfg, features, progress=args.progress)
    print(f"[3/5] trained {', '.join(trained)} -> {cfg.storage.artifacts_dir}", flush=True)
    report_dir = out / "report"
    result = api.evaluate(cfg, features, trained, report_dir=report_dir)
    print(f"[4/5] evaluation report -> {report_dir}", flush=True)
    _print_evaluation(result)
    users = features.users.ids[1 : 1 + args.users].tolist()
    frame = api.recommend(cfg, features, trained[cfg.primary_model].model, users=users, k=args.k)
    recs_path = out / "recommendations.csv"
    frame.to_csv(recs_path, index=False)
    print(f"[5/5] recommendations for {len(users)} users -> {recs_path}")
    print(recommendations_table(frame.head(args.k)))
    print(f"\nall results are in {out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Feature tables -> partitioned Parquet (the format argument leaves room for others)."""
    from hybridrec_core.export import export_parquet
    from hybridrec_core.storage import Store

    cfg = _load(args.config, validate=False)
    database = Path(args.database or cfg.storage.database)
    if not database.exists():
        raise ConfigError(f"database {database} does not exist; run `hybridrec train` first")
    tables = [t.strip() for t in args.tables.split(",") if t.strip()] if args.tables else None
    report = export_parquet(Store(database), args.out, tables=tables, partition_by=args.partition_by, buckets=args.buckets)
    rows = [{"table": t.name, "rows": f"{t.rows:,}", "files": t.files, "partitioned by": t.partition_column or "-"}
            for t in report.tables]
    print(format_table(rows, ["table", "rows", "files", "partitioned by"]))
    print(f"\n{len(report.tables)} tables -> {report.out_dir} (manifest.json) in {report.seconds:.1f}s")
    return 0


# -- parser ----------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hybridrec", description="Plugin-based hybrid music recommender.")
    p.add_argument("--version", action="version", version=f"hybridrec {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    sp = sub.add_parser("plugins", help="list installed plugins")
    sp.add_argument("--kind", choices=list(HOOK_FOR_KIND), help="only this kind")
    sp.add_argument("--json", action="store_true", help="JSON instead of a table")
    sp.set_defaults(func=cmd_plugins)

    cp = sub.add_parser("config", help="show, describe or document the pipeline config")
    csub = cp.add_subparsers(dest="config_command", metavar="ACTION")
    csub.required = True
    show = csub.add_parser("show", help="effective config as YAML (defaults filled in)")
    show.add_argument("--config", help="YAML/TOML/JSON pipeline config (default: built-in)")
    show.set_defaults(func=cmd_config_show)
    schema = csub.add_parser("schema", help="JSON schema of the pipeline config")
    schema.set_defaults(func=cmd_config_schema)
    ref = csub.add_parser("reference", help="markdown reference of every config field and plugin")
    ref.add_argument("--builtin-only", action="store_true", help="only plugins shipped with hybridrec")
    ref.add_argument("--output", help="write to this file instead of stdout")
    ref.set_defaults(func=cmd_config_reference)

    def progress_flag(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--progress", action=argparse.BooleanOptionalAction, default=_progress_default(),
            help="progress bars with live loss (default: on when stderr is a terminal; env HYBRIDREC_PROGRESS)",
        )

    demo = sub.add_parser("demo", help="ingest, features, train, evaluate and recommend on the demo data")
    demo.add_argument("--out", default=".hybridrec/demo", help="output folder (default: .hybridrec/demo)")
    demo.add_argument("--config", help="start from this config instead of the built-in one")
    demo.add_argument("--users", type=int, default=3, help="users to recommend for (default 3)")
    demo.add_argument("-k", type=int, default=10, help="list length (default 10)")
    progress_flag(demo)
    demo.set_defaults(func=cmd_demo)

    tr = sub.add_parser("train", help="ingest, build features and train every configured model")
    tr.add_argument("--config", required=True)
    progress_flag(tr)
    tr.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="evaluate the trained models")
    ev.add_argument("--config", required=True)
    ev.add_argument("--report-dir", help="write report.json / report.md / plots here")
    ev.set_defaults(func=cmd_evaluate)

    rc = sub.add_parser("recommend", help="top-k tracks for the given users")
    rc.add_argument("--config", required=True)
    rc.add_argument("--user", action="append", required=True, help="external user id (repeatable)")
    rc.add_argument("-k", type=int, default=10, help="list length (default 10)")
    rc.add_argument("--model", help="model to use (default: the config's primary model)")
    rc.add_argument("--json", action="store_true", help="JSON records instead of a table")
    rc.add_argument("--write", action="store_true",
                    help="also store these users' lists in table recommendations (others' lists are kept)")
    rc.set_defaults(func=cmd_recommend)

    ex = sub.add_parser("export", help="export the feature tables to partitioned Parquet for other machines")
    ex.add_argument("--format", choices=["parquet"], default="parquet", help="output format (default parquet)")
    ex.add_argument("--out", required=True, help="output folder: one sub-folder per table + manifest.json")
    ex.add_argument("--config", help="pipeline config whose storage.database is exported (default: built-in)")
    ex.add_argument("--database", help="DuckDB file to export (overrides the config's)")
    ex.add_argument("--tables", help="comma-separated tables (default: vocab_*, features_*, split_*, daily_features)")
    ex.add_argument("--partition-by", choices=["none", "day", "user"], default="user",
                    help="Hive partitions: user bucket (default), UTC day, or none")
    ex.add_argument("--buckets", type=int, default=16, help="user buckets for --partition-by user (default 16)")
    ex.set_defaults(func=cmd_export)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag in ("k", "users"):
        if getattr(args, flag, 1) < 1:
            parser.error(f"{'-k' if flag == 'k' else '--users'} must be >= 1")
    try:
        return int(args.func(args) or 0)
    except HybridrecError as exc:
        print(f"hybridrec: error: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("hybridrec: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
