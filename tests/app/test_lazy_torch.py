"""The gateway loads torch only when Svara (SNAC) is on: a CPU-profile gateway stays light."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# A fresh interpreter: this test process has torch loaded already (tests/conftest.py asks for CUDA).
SCRIPT = textwrap.dedent(
    """
    import sys
    from app.main import create_app
    from app.settings import GatewaySettings

    create_app(GatewaySettings(profile="cpu", tts_svara_enabled=False))
    print("after_app", "torch" in sys.modules)
    import tts_engine.svara.backend  # what a gateway with Svara on loads: the check can fail
    print("after_backend", "torch" in sys.modules)
    """
)


def test_gateway_with_svara_off_does_not_import_torch() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=True
    )
    lines = dict(line.split() for line in result.stdout.splitlines())
    assert lines == {"after_app": "False", "after_backend": "True"}
