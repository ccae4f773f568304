"""Pipeline configs for tests: the demo config with absolute paths plus extra sections."""

from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = PROJECT_ROOT / "configs" / "demo.yaml"


def demo_config_with(target: Path, **sections: Any) -> Path:
    """Write the demo config, its relative paths made absolute, with `sections` merged in; returns its path."""
    document = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    for source in document["sources"]:
        if "path" in source:
            source["path"] = str((DEMO_CONFIG.parent / source["path"]).resolve())
    topics = document.get("generation", {}).get("topics")
    if topics and "path" in topics:
        topics["path"] = str((DEMO_CONFIG.parent / topics["path"]).resolve())
    for evaluation_only in document.get("training", {}).get("evaluation_only", []):
        evaluation_only["path"] = str((DEMO_CONFIG.parent / evaluation_only["path"]).resolve())
    for name, value in sections.items():
        if isinstance(value, dict) and isinstance(document.get(name), dict):
            document[name] = {**document[name], **value}
        else:
            document[name] = value
    target.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return target
