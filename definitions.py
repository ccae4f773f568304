"""Entry point for `dagster dev` / `dagster definitions validate` (see workspace.yaml)."""

from lamini_assets.defs import build_definitions

defs = build_definitions()
