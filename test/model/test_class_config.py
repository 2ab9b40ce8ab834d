from __future__ import annotations

from pathlib import Path

import pytest

from lednet_ros.errors import ClassConfigError
from lednet_ros.model.classes import ClassConfig, load_class_config


def test_shipped_cityscapes_config_has_the_19_train_classes() -> None:
    config = load_class_config()
    assert config.num_classes == 19
    assert config.names[0] == "road" and config.names[10] == "sky" and config.names[18] == "bicycle"
    assert config.colors[0] == (128, 64, 128)
    assert config.colors[13] == (0, 0, 142)
    assert config.ignore_id == 255
    assert config.label_ids is not None and config.label_ids[0] == 7 and config.label_ids[18] == 33


def test_palette_is_a_256_entry_lookup_with_ignore_colour() -> None:
    config = load_class_config()
    palette = config.palette()
    assert palette.shape == (256, 3)
    assert tuple(palette[11]) == (220, 20, 60)
    assert tuple(palette[255]) == config.ignore_color
    assert tuple(palette[19]) == config.ignore_color


def test_round_trip_through_plain_data() -> None:
    config = load_class_config()
    assert ClassConfig.from_dict(config.to_dict()) == config


def test_custom_yaml_is_read(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text(
        "name: two\nclasses:\n  - {id: 1, name: b, color: [1, 2, 3]}\n  - {id: 0, name: a, color: [4, 5, 6]}\n"
    )
    config = load_class_config(path)
    assert config.names == ("a", "b")
    assert config.ignore_id == 255


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("classes:\n  - {id: 0, name: a, color: [1, 2, 300]}\n", "not three values in 0..255"),
        ("classes:\n  - {id: 1, name: a, color: [1, 2, 3]}\n", "ids must be 0..N-1"),
        ("classes:\n  - {id: 0, color: [1, 2, 3]}\n", "invalid class config"),
        ("classes: []\n", "has no classes"),
        ("ignore_id: 0\nclasses:\n  - {id: 0, name: a, color: [1, 2, 3]}\n", "ignore_id 0 must be in"),
        ("classes: [oops\n", "not valid YAML"),
    ],
)
def test_invalid_configs_name_the_file_and_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ClassConfigError, match=message):
        load_class_config(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ClassConfigError, match="cannot read class config"):
        load_class_config(tmp_path / "nope.yaml")
