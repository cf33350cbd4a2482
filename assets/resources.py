"""The one resource every asset shares: where the data lives and where upstream files come from."""
import os

from dagster import ConfigurableResource

from pipeline.layout import Layout


class Workspace(ConfigurableResource):
    """Roots and mirror. An empty field falls back to the environment at run time
    (SPATIALMIX_DATA_ROOT, _TABLES_ROOT, _CACHE_ROOT, _MIRROR, _WORKERS), so `dagster dev`, the CLI
    and CI agree; the CLI also passes its values as run config, so they are recorded with each run."""

    data_root: str = ""
    tables_root: str = ""
    cache_root: str = ""
    mirror: str = ""       # a folder, file:// or http:// root laid out as <host>/<path>; empty: real upstream
    workers: int = 0       # processes for image work; 0: $SPATIALMIX_WORKERS or all cores

    def layout(self) -> Layout:
        return Layout.at(self.data_root or None, self.tables_root or None, self.cache_root or None)

    def mirror_or_none(self) -> str | None:
        return self.mirror or os.environ.get("SPATIALMIX_MIRROR") or None

    def worker_count(self) -> int:
        return self.workers or int(os.environ.get("SPATIALMIX_WORKERS", "0")) or (os.cpu_count() or 1)
