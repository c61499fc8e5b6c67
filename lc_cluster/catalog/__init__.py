"""Model and GPU catalogs: data files and their strict loaders."""

from lc_cluster.catalog.loader import Catalog, load_catalog
from lc_cluster.catalog.schema import GpuSpec, ModelSpec

__all__ = ["Catalog", "GpuSpec", "ModelSpec", "load_catalog"]
