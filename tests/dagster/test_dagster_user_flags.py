"""The recommendations asset reads the user flags the ingestion asset wrote: flagged users' lists hold
no explicit track, the others' still do, and the asset reports how many users carry each flag."""

from __future__ import annotations

from pathlib import Path

from hybridrec_core.storage import Store

from dagster_testkit import SMALL, make_definitions, materialization_metadata, materialize_all, small_config


def test_flagged_users_lists_are_filtered_by_the_asset(tmp_path: Path) -> None:
    params = {**SMALL["source"]["params"], "no_explicit_share": 0.3}
    config = small_config(
        source={"params": params},
        rerankers=[{"name": "explicit_filter", "params": {"scope": "flagged_users"}}],
    )
    result = materialize_all(make_definitions(tmp_path, config))
    assert result.success
    store = Store(tmp_path / "hybridrec.duckdb")
    per_user = store.query_df("""
        SELECT r.user_id, coalesce(f.no_explicit, false) AS flagged,
               count(*) FILTER (t.explicit) AS explicit, count(*) AS n
        FROM recommendations r JOIN raw_tracks t USING (track_id) LEFT JOIN user_flags f USING (user_id)
        GROUP BY ALL""")
    flagged, free = per_user[per_user["flagged"]], per_user[~per_user["flagged"]]
    assert len(flagged) > 20 and len(free) > 20
    assert flagged["explicit"].sum() == 0, "a flagged user got an explicit track"
    assert free["explicit"].sum() > 0, "unflagged users keep explicit tracks"
    assert (per_user["n"] == config.recommend.k).all()
    meta = materialization_metadata(result, "recommendations")
    assert meta["flagged_users"].value == {"no_explicit": len(flagged)}
