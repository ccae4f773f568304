"""Student specs: LaMini's defaults, and bad specs failing at config load with the key named."""

from pathlib import Path

import pytest

from lamini_assets.config import ConfigError, load_config
from lamini_assets.schema import INSTRUCTION_SOURCES


def config_with(tmp_path: Path, students: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(f"sources: []\nstudents:\n{students}", encoding="utf-8")
    return path


def test_defaults_are_lamini_s(tmp_path: Path) -> None:
    config = load_config(config_with(tmp_path, "  - {name: a, family: encoder-decoder}\n  - {name: b, family: decoder-only}\n"))
    encoder_decoder, decoder_only = config.students
    assert encoder_decoder.hyperparameters.epochs == 5 and decoder_only.hyperparameters.epochs == 5
    assert encoder_decoder.learning_rate == 5e-4 and decoder_only.learning_rate == 2e-5
    assert encoder_decoder.sources == sorted(INSTRUCTION_SOURCES) and encoder_decoder.base == "from_config"


def test_a_local_base_folder_resolves_against_the_config(tmp_path: Path) -> None:
    (tmp_path / "models" / "mine").mkdir(parents=True)
    (tmp_path / "models" / "mine" / "config.json").write_text("{}")
    config = load_config(config_with(tmp_path, "  - {name: a, family: decoder-only, base: ./models/mine}\n"))
    assert config.students[0].base == str(tmp_path / "models" / "mine")


@pytest.mark.parametrize("student, message", [
    ("{name: a, family: encoder-only}", r"students\.0\.family: Input should be 'encoder-decoder' or 'decoder-only'"),
    ("{name: a, family: decoder-only, base: ./no/such/model}", r"students\.0\.base: Value error, local base path .*no/such/model does not exist"),
    ("{name: a, family: decoder-only, base: not-cached-org/no-such-model}", r"students\.0\.base: .*neither a local folder nor in the hub cache"),
    ("{name: a, family: decoder-only, max_source_length: 0}", r"students\.0\.max_source_length: Input should be greater than 0"),
    ("{name: a, family: decoder-only, max_target_length: -5}", r"students\.0\.max_target_length: Input should be greater than 0"),
    ("{name: a, family: decoder-only, sources: [alpaca, wikipedia]}", r"students\.0\.sources: .*unknown instruction_source \['wikipedia'\]"),
    ("{name: a, family: encoder-decoder, packing: true}", r"students\.0: .*packing is for decoder-only"),
    ("{name: a, family: decoder-only, hyperparameters: {lr: 1}}", r"students\.0\.hyperparameters\.lr: Extra inputs"),
    ("{name: 'a b', family: decoder-only}", r"students\.0\.name: String should match pattern"),
])
def test_bad_specs_fail_at_load_naming_the_key(tmp_path: Path, student: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(config_with(tmp_path, f"  - {student}\n"))


def test_student_names_are_unique(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"students: Value error, student names must be unique; repeated: a"):
        load_config(config_with(tmp_path, "  - {name: a, family: decoder-only}\n  - {name: a, family: encoder-decoder}\n"))


def test_a_missing_evaluation_only_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("sources: []\ntraining:\n  evaluation_only:\n    - path: gone.jsonl\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"training\.evaluation_only\.0\.path: .*gone\.jsonl does not exist"):
        load_config(path)
