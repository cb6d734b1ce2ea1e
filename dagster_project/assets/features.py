"""Features group: encoded feature tables and the train / valid / test / cold-start splits,
written by one core ``build_features`` call (encoders fitted on the training split only)."""

from collections.abc import Iterator

from dagster import AssetExecutionContext, AssetSpec, MaterializeResult, MetadataValue, multi_asset
from dagster_duckdb import DuckDBResource

from dagster_project.assets import DUCKDB_POOL
from dagster_project.assets.ingestion import FEATURE_INPUTS
from dagster_project.config import PipelineRunConfig
from dagster_project.metadata import table_metadata, tables_like
from dagster_project.resources import ArtifactsResource, resolve, store_of
from dagster_project.writer_turn import writer_turn
from hybridrec_core import api

GROUP = "features"
FEATURE_PREFIXES = ("features_", "vocab_")
SPLIT_PREFIXES = ("split_",)


@multi_asset(
    specs=[
        AssetSpec(
            "feature_tables",
            description="Encoded item/user features, vocabularies and fitted encoder states (features_*, vocab_*).",
            group_name=GROUP, deps=list(FEATURE_INPUTS), kinds={"duckdb"},
        ),
        AssetSpec(
            "splits",
            description="Interaction splits (split_train, split_valid, split_test, split_cold_user, split_cold_item).",
            group_name=GROUP, deps=list(FEATURE_INPUTS), kinds={"duckdb"},
        ),
    ],
    pool=DUCKDB_POOL,
)
def feature_tables_and_splits(
    context: AssetExecutionContext, pipeline: PipelineRunConfig, duckdb: DuckDBResource, artifacts: ArtifactsResource
) -> Iterator[MaterializeResult]:
    """Split, fit the configured encoders on the training split, write every table atomically."""
    with writer_turn(context, duckdb.database):
        cfg = resolve(pipeline, duckdb, artifacts)
        store = store_of(duckdb)
        features = api.build_features(cfg, store)
        sizes = {
            "users": features.n_users, "tracks": features.n_items,
            "artists": features.n_artists, "genres": features.n_genres,
        }
        context.log.info(f"built features: {sizes}")
        feature_list = tables_like(store, FEATURE_PREFIXES)
        feature_meta = table_metadata(store, feature_list, preview="features_items" if "features_items" in feature_list else None)
        feature_meta["vocabulary_sizes"] = MetadataValue.json(sizes)
        feature_meta["numeric_features"] = MetadataValue.json(list(features.item_features.numeric_names))
        yield MaterializeResult(asset_key="feature_tables", metadata=feature_meta)

        split_tables = tables_like(store, SPLIT_PREFIXES)
        split_meta = table_metadata(store, split_tables, preview="split_train" if "split_train" in split_tables else None)
        split_meta["split_sizes"] = MetadataValue.json({name: len(s) for name, s in features.splits.items()})
        split_meta["split_method"] = MetadataValue.text(cfg.split.method)
        yield MaterializeResult(asset_key="splits", metadata=split_meta)
