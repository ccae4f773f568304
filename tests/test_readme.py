"""The README is the user's manual: every YAML config snippet in it must validate."""

import re
from pathlib import Path

import yaml

from lamini_assets.config import PipelineConfig

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_config_snippets_validate() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) >= 4
    for block in blocks:
        document = yaml.safe_load(block)
        # A snippet shows some sections; the others take their defaults.
        PipelineConfig.model_validate({"sources": [], **document})
