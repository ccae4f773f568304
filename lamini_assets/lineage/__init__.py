"""Lineage: which rows trained which checkpoint, and the audit that answers it (no Dagster here)."""

from lamini_assets.lineage.audit import Audit, AuditSources, UnknownName
from lamini_assets.lineage.index import (
    INDEX_TABLES,
    IndexStatus,
    LineageUnavailable,
    build_lineage_index,
    ensure_index,
)

__all__ = [
    "INDEX_TABLES",
    "Audit",
    "AuditSources",
    "IndexStatus",
    "LineageUnavailable",
    "UnknownName",
    "build_lineage_index",
    "ensure_index",
]
