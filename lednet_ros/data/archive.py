"""Reading a zip archive or a folder a user names, member by member, within limits: never extracted, links never followed.

For imports of labelled data (:mod:`lednet_ros.data.cvat`). Refused, with
one error line: members with absolute or ``..`` paths, symbolic links (in a
zip or a folder), encrypted members, more than :data:`MAX_MEMBERS` members
(counted from the zip's end record before ``zipfile`` reads its directory),
a member over :data:`MAX_MEMBER_BYTES` or more than :data:`MAX_ARCHIVE_BYTES`
in all (declared sizes checked first, and every read measured while it
unpacks, so a zip bomb stops at the limit).
"""

from __future__ import annotations

import os
import stat
import struct
import zipfile
from pathlib import Path, PurePosixPath

from lednet_ros.errors import LednetError
from lednet_ros.user_files import read_user_file

__all__ = ["MAX_ARCHIVE_BYTES", "MAX_MEMBERS", "MAX_MEMBER_BYTES", "Archive", "safe_name"]

MAX_MEMBERS = 100_000
MAX_MEMBER_BYTES = 64 << 20
"""The largest file read from an archive (a 3840x2160 RGB PNG that does not compress is 25 MB)."""
MAX_ARCHIVE_BYTES = 8 << 30


def safe_name(name: str, source: str) -> str:
    """``name`` as a relative POSIX path inside the archive; refused if it could leave it."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        msg = f"{source}: refused: member {name!r} points outside the archive"
        raise LednetError(msg)
    return path.as_posix()


class Archive:
    """A zip file or a folder, read member by member within the limits (never extracted, links never followed)."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.read_bytes = 0
        self.zip: zipfile.ZipFile | None = None
        self.members: dict[str, Path | zipfile.ZipInfo] = {}
        if source.is_dir() and not source.is_symlink():
            self._scan_folder()
        else:
            self._scan_zip()

    def _add(self, name: str, member: Path | zipfile.ZipInfo) -> None:
        if len(self.members) >= MAX_MEMBERS:
            msg = f"{self.source}: refused: more than {MAX_MEMBERS} files"
            raise LednetError(msg)
        self.members[safe_name(name, str(self.source))] = member

    def _scan_folder(self) -> None:
        for folder, dirs, files in os.walk(self.source, followlinks=False):
            for entry in (*dirs, *files):
                path = Path(folder) / entry
                if path.is_symlink():
                    msg = f"{self.source}: refused: {path.relative_to(self.source)} is a symbolic link"
                    raise LednetError(msg)
            for entry in files:
                path = Path(folder) / entry
                self._add(path.relative_to(self.source).as_posix(), path)

    def _scan_zip(self) -> None:
        entries = _zip_entries(_regular_file(self.source))
        if entries > MAX_MEMBERS:  # before zipfile builds a record per entry
            msg = f"{self.source}: refused: {entries} members, more than {MAX_MEMBERS} files"
            raise LednetError(msg)
        try:
            self.zip = zipfile.ZipFile(self.source)
        except (zipfile.BadZipFile, OSError) as exc:
            msg = f"{self.source}: not a zip archive or folder ({exc})"
            raise LednetError(msg) from None
        declared = 0
        for info in self.zip.infolist():
            if stat.S_ISLNK(info.external_attr >> 16):
                msg = f"{self.source}: refused: member {info.filename!r} is a symbolic link"
                raise LednetError(msg)
            if info.flag_bits & 0x1:
                msg = f"{self.source}: refused: member {info.filename!r} is encrypted"
                raise LednetError(msg)
            declared += info.file_size
            if info.file_size > MAX_MEMBER_BYTES or declared > MAX_ARCHIVE_BYTES:
                msg = f"{self.source}: refused: member {info.filename!r} unpacks beyond the limits ({info.file_size} bytes)"
                raise LednetError(msg)
            if not info.is_dir():
                self._add(info.filename, info)

    def read(self, name: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
        """The bytes of member ``name``, at most ``limit`` (a zip member is measured as it unpacks)."""
        member = self.members[name]
        where = f"{self.source}: {name}"
        if isinstance(member, Path):
            data = read_user_file(member, "archive member", limit)
        else:
            assert self.zip is not None
            try:
                with self.zip.open(member) as stream:
                    data = stream.read(limit + 1)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
                msg = f"{where}: refused: cannot unpack ({exc})"
                raise LednetError(msg) from None
            if len(data) > limit:
                msg = f"{where}: refused: unpacks to more than {limit} bytes"
                raise LednetError(msg)
        self.read_bytes += len(data)
        if self.read_bytes > MAX_ARCHIVE_BYTES:
            msg = f"{self.source}: refused: unpacks to more than {MAX_ARCHIVE_BYTES} bytes"
            raise LednetError(msg)
        return data

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def _zip_entries(path: Path) -> int:
    """The member count a zip's end-of-central-directory record claims (zip64's when it has one; 0 if none found)."""
    with path.open("rb") as stream:
        stream.seek(0, os.SEEK_END)
        size = stream.tell()
        stream.seek(max(0, size - (1 << 16) - 22))
        tail = stream.read()
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or end + 12 > len(tail):
        return 0
    entries = struct.unpack("<H", tail[end + 10 : end + 12])[0]
    zip64 = tail.rfind(b"PK\x06\x06", 0, end)
    if entries == 0xFFFF and zip64 >= 0 and zip64 + 40 <= len(tail):
        entries = struct.unpack("<Q", tail[zip64 + 32 : zip64 + 40])[0]
    return int(entries)


def _regular_file(path: Path) -> Path:
    """``path`` if it is a regular file (``zipfile`` then reads its directory and each member lazily).

    Raises:
        LednetError: missing, a folder that is a link, a device, a FIFO.
    """
    try:
        info = path.lstat()
    except OSError as exc:
        msg = f"{path}: cannot read the CVAT export ({exc.strerror or exc})"
        raise LednetError(msg) from None
    if not stat.S_ISREG(info.st_mode):
        msg = f"{path}: refused: the CVAT export must be a zip file or a folder, not a link or a device"
        raise LednetError(msg)
    return path
