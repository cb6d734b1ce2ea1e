"""Resources: where the DuckDB file and the artifact folder live (environment variables with
local defaults), the pipeline config, and the dagster-pipes client that launches torchrun. Assets
turn them into a core ``PipelineConfig``/``Store``."""

import os
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, PipesSubprocessClient
from dagster_duckdb import DuckDBResource
from pydantic import Field

from dagster_project.config import PipelineRunConfig
from hybridrec_core.config import PipelineConfig
from hybridrec_core.storage import Store

DUCKDB_ENV = "HYBRIDREC_DUCKDB"
ARTIFACTS_ENV = "HYBRIDREC_ARTIFACTS"
DEFAULT_DUCKDB = ".hybridrec/hybridrec.duckdb"
DEFAULT_ARTIFACTS = ".hybridrec/artifacts"


class ArtifactsResource(ConfigurableResource):
    """Folder for model artifacts (``models/<name>``) and evaluation reports (``reports/``)."""

    root: str = Field(DEFAULT_ARTIFACTS, description="Artifact folder (created on first use).")

    def path(self, *parts: str) -> Path:
        p = Path(self.root).joinpath(*parts)
        p.mkdir(parents=True, exist_ok=True)
        return p


def _abs(path: str) -> str:
    # Absolute paths: the webserver, daemon and run workers may start in different folders.
    return str(Path(path).expanduser().resolve())


def default_resources(
    database: str | None = None, artifacts_dir: str | None = None, pipeline: PipelineRunConfig | None = None
) -> dict[str, Any]:
    """The resources the definitions use; arguments override the environment (tests)."""
    return {
        "duckdb": DuckDBResource(database=_abs(database or os.environ.get(DUCKDB_ENV) or DEFAULT_DUCKDB)),
        "artifacts": ArtifactsResource(
            root=_abs(artifacts_dir or os.environ.get(ARTIFACTS_ENV) or DEFAULT_ARTIFACTS)
        ),
        "pipeline": pipeline or PipelineRunConfig(),
        # Launches torchrun for distributed training (model assets with `distributed: true`).
        "pipes_subprocess_client": PipesSubprocessClient(),
    }


def store_of(duckdb: DuckDBResource) -> Store:
    """The core Store on the resource's file (its lock retry lets processes take turns)."""
    return Store(duckdb.database)


def resolve(pipeline: PipelineRunConfig, duckdb: DuckDBResource, artifacts: ArtifactsResource) -> PipelineConfig:
    """The run's core config with storage taken from the resources."""
    return pipeline.to_pipeline_config(duckdb.database, artifacts.root)
