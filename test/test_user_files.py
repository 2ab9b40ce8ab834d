"""Users' YAML and JSON files: bounded in size and kind, no YAML aliases, no deep nesting (issue 17, items 7 and 8)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from lednet_ros.errors import ClassConfigError, LednetError
from lednet_ros.model.classes import load_class_config
from lednet_ros.user_files import MAX_CONFIG_BYTES, MAX_NESTING, check_yaml_text, load_yaml, read_user_file

BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    + ["classes:", "  - {id: 0, name: *i, color: [1, 2, 3]}"]  # str(name) expanded 9**9 strings: 3 GB, 39 s
)


def test_a_billion_laughs_class_config_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(BILLION_LAUGHS)
    assert path.stat().st_size < 1024
    started = time.monotonic()
    with pytest.raises(ClassConfigError, match="aliases"):
        load_class_config(path)
    assert time.monotonic() - started < 1.0


def test_a_single_alias_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "alias.yaml"
    path.write_text("colour: &c [1, 2, 3]\nclasses:\n  - {id: 0, name: a, color: *c}\n")
    with pytest.raises(ClassConfigError, match=r"aliases \(\*c\)"):
        load_class_config(path)


def test_deep_nesting_is_refused_without_recursion_error() -> None:
    with pytest.raises(LednetError, match=f"deeper than {MAX_NESTING}"):
        check_yaml_text("[" * 100_000 + "]" * 100_000, "deep.yaml")
    check_yaml_text("[" * MAX_NESTING + "]" * MAX_NESTING, "ok.yaml")


def test_dev_zero_and_other_devices_are_refused_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(ClassConfigError, match="/dev/zero: class config is not a regular file"):
        load_class_config("/dev/zero")
    assert time.monotonic() - started < 1.0


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    done = threading.Event()
    errors: list[Exception] = []

    def read() -> None:
        try:
            read_user_file(fifo, "class config")
        except LednetError as exc:
            errors.append(exc)
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(5.0), "opening a FIFO blocked"
    assert errors and "not a regular file" in str(errors[0])


def test_a_folder_and_an_oversized_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LednetError, match="not a regular file"):
        read_user_file(tmp_path, "class config")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(ClassConfigError, match=f"more than the limit of {MAX_CONFIG_BYTES}"):
        load_class_config(big)


def test_binary_and_broken_yaml_are_one_line_errors(tmp_path: Path) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(LednetError, match="not UTF-8"):
        load_yaml(binary, "class config")
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n")
    with pytest.raises(LednetError, match="not valid YAML") as error:
        load_yaml(broken, "class config")
    assert "\n" not in str(error.value)


def test_the_shipped_class_config_still_loads() -> None:
    assert load_class_config().num_classes == 19
