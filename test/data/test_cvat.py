"""CVAT "Segmentation mask 1.1": export, import, the colour rules and hostile archives."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from lednet_ros.commands.cvat_import import main as import_main
from lednet_ros.data import archive, cvat
from lednet_ros.data.cvat import LABELMAP, LIST_FILE, MASK_FOLDER, import_cvat, parse_labelmap, write_cvat
from lednet_ros.data.datasets import find_samples, read_label
from lednet_ros.errors import LednetError
from lednet_ros.model.classes import ClassConfig, load_class_config
from lednet_ros.resources import config_file

ROAD4 = load_class_config(config_file("road4.yaml"))


def _png(array: np.ndarray) -> bytes:
    pixels = array[..., ::-1] if array.ndim == 3 else array
    return cv2.imencode(".png", np.ascontiguousarray(pixels))[1].tobytes()


def _labels(seed: int, shape: tuple[int, int] = (24, 32)) -> np.ndarray:
    labels = np.random.default_rng(seed).integers(0, ROAD4.num_classes, shape).astype(np.uint8)
    labels[0, :5] = ROAD4.ignore_id
    return labels


def _export(tmp_path: Path, frames: int = 2) -> tuple[Path, list[np.ndarray]]:
    truth, items = [], []
    for index in range(frames):
        image = tmp_path / "src" / f"frame{index}.png"
        image.parent.mkdir(parents=True, exist_ok=True)
        image.write_bytes(_png(np.full((24, 32, 3), 40 * index, np.uint8)))
        truth.append(_labels(index))
        items.append((f"frame{index}", image, truth[-1]))
    return write_cvat(tmp_path / "export", ROAD4, items), truth


def _zip(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                out.write(path, f"task/{path.relative_to(folder).as_posix()}")  # CVAT zips may have a top folder
    return archive


def test_export_is_the_documented_layout_and_imports_back_exactly(tmp_path: Path) -> None:
    folder, truth = _export(tmp_path)
    assert (folder / LABELMAP).read_text().splitlines()[1:] == [
        "drivable:128,64,128::", "walkable:244,35,232::", "obstacle:250,170,30::", "sky:70,130,180::"
    ]  # fmt: skip
    assert (folder / LIST_FILE).read_text().split() == ["frame0", "frame1"]
    mask = cv2.imread(str(folder / MASK_FOLDER / "frame0.png"))[..., ::-1]
    assert tuple(mask[0, 0]) == (0, 0, 0) and tuple(mask[5, 5]) == ROAD4.colors[truth[0][5, 5]]
    for source in (folder, _zip(folder, tmp_path / "export.zip")):
        report = import_cvat(source, tmp_path / f"in_{source.suffix}")
        assert report.frames == 2 and report.unknown_pixels == 0
        assert report.classes.names == ROAD4.names and report.classes.colors == ROAD4.colors
        samples = find_samples(report.out, "train")
        for sample, expected in zip(samples, truth, strict=True):
            np.testing.assert_array_equal(read_label(sample, report.classes), expected)
        assert load_class_config(report.out / "classes.yaml") == report.classes


def test_one_channel_masks_black_and_unknown_colours_follow_the_rules(tmp_path: Path) -> None:
    folder = tmp_path / "cvat"
    (folder / MASK_FOLDER).mkdir(parents=True)
    (folder / "JPEGImages").mkdir()
    (folder / LABELMAP).write_text("# label:color_rgb:parts:actions\ngrey:7,7,7::\nred:255,0,0::\n")
    grey = np.array([[7, 7, 0, 9]], np.uint8)  # 1 channel: (v, v, v); 0 black unlabelled; 9 unknown
    colour = np.array([[[255, 0, 0], [0, 0, 0], [1, 2, 3], [1, 2, 3]]], np.uint8)
    for name, mask in (("a", grey), ("b", colour)):
        (folder / MASK_FOLDER / f"{name}.png").write_bytes(_png(mask))
        (folder / "JPEGImages" / f"{name}.png").write_bytes(_png(np.zeros((1, 4, 3), np.uint8)))
    report = import_cvat(folder, tmp_path / "out")
    assert cv2.imread(str(tmp_path / "out/labels/a.png"), cv2.IMREAD_UNCHANGED).tolist() == [[0, 0, 255, 255]]
    assert cv2.imread(str(tmp_path / "out/labels/b.png"), cv2.IMREAD_UNCHANGED).tolist() == [[1, 255, 255, 255]]
    assert report.unknown_pixels == 3 and dict(report.unknown_colours) == {"9,9,9": 1, "1,2,3": 2}
    assert json.loads((tmp_path / "out/import.json").read_text())["unknown_colours"]["1,2,3"] == 2
    (folder / LABELMAP).write_text("background:0,0,0::\nred:255,0,0::\n")  # black named: a class
    import_cvat(folder, tmp_path / "named")
    assert cv2.imread(str(tmp_path / "named/labels/b.png"), cv2.IMREAD_UNCHANGED).tolist() == [[1, 0, 255, 255]]


def test_colliding_colours_and_bad_labelmaps_are_refused() -> None:
    with pytest.raises(LednetError, match="share the colour"):
        parse_labelmap("a:1,2,3::\nb:1,2,3::\n")
    with pytest.raises(LednetError, match="share the colour"):
        cvat.labelmap_text(ClassConfig("x", ("a", "b"), ((1, 2, 3), (1, 2, 3))))
    with pytest.raises(LednetError, match="is black"):
        write_cvat(Path("unused"), ClassConfig("x", ("a", "b"), ((0, 0, 0), (1, 2, 3))), [])
    with pytest.raises(LednetError, match="line 2"):
        parse_labelmap("a:1,2,3::\nb:1,2::\n")
    with pytest.raises(LednetError, match="more than 255 labels"):
        parse_labelmap("".join(f"c{i}:{i // 256},{i % 256},1::\n" for i in range(300)))


def _hostile(tmp_path: Path, member: str, data: bytes = b"x", *, mode: int | None = None) -> Path:
    archive = tmp_path / "hostile.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr(LABELMAP, "a:1,2,3::\n")
        info = zipfile.ZipInfo(member)
        if mode is not None:
            info.external_attr = mode << 16
        out.writestr(info, data, zipfile.ZIP_DEFLATED)
    return archive


@pytest.mark.parametrize(
    ("member", "data", "mode", "reason"),
    [
        ("../evil.png", b"x", None, "outside the archive"),
        ("/etc/evil.png", b"x", None, "outside the archive"),
        ("SegmentationClass/link.png", b"/etc/passwd", 0o120777, "symbolic link"),
        ("SegmentationClass/bomb.png", b"\0" * (cvat.MAX_MEMBER_BYTES + 1), None, "beyond the limits"),
        (LIST_FILE, b"../../x\n", None, "outside the archive"),
    ],
)
def test_hostile_archives_are_refused_with_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          member: str, data: bytes, mode: int | None,
                                                          reason: str) -> None:  # fmt: skip
    archive = _hostile(tmp_path, member, data, mode=mode)
    assert archive.stat().st_size < 1 << 20  # the bomb is small on disk
    assert import_main([str(archive), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and reason in err[0], err
    assert not (tmp_path / "evil.png").exists()


def test_hostile_folders_and_labelmaps_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _ = _export(tmp_path, frames=1)
    (folder / MASK_FOLDER / "other.png").symlink_to("/etc/passwd")
    with pytest.raises(LednetError, match="symbolic link"):
        import_cvat(folder, tmp_path / "out")
    (folder / MASK_FOLDER / "other.png").unlink()
    (folder / LABELMAP).write_text("a:1,2,3::\n" + "#\n" * (600 << 10))  # 1.2 MB of comment lines
    with pytest.raises(LednetError, match="more than the limit"):
        import_cvat(folder, tmp_path / "out")
    (folder / LABELMAP).write_text("a:1,2,3::\n")
    monkeypatch.setattr(archive, "MAX_MEMBERS", 2)
    with pytest.raises(LednetError, match="more than 2 files"):
        import_cvat(folder, tmp_path / "out")
    with pytest.raises(LednetError, match="not a zip archive"):
        import_cvat(folder / LABELMAP, tmp_path / "out")
    many = _zip(folder, tmp_path / "many.zip")  # 4 members: refused from the end record, before zipfile reads them
    with pytest.raises(LednetError, match="4 members, more than 2 files"):
        import_cvat(many, tmp_path / "out")
