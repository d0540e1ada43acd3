"""The CAM++ model, exported once per session (the export is itself under test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from asr_engine.diarization.export import export


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """(the ONNX file, its largest difference from the torch model on the export's checks)."""
    path = tmp_path_factory.mktemp("campplus") / "campplus.onnx"
    return path, export(path)


@pytest.fixture(scope="session")
def speaker_model(exported: tuple[Path, float]) -> Path:
    return exported[0]

