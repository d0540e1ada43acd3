"""One-time export of CAM++ to ONNX, run by the install step: `python -m asr_engine.diarization.export`.

Needs torch and onnx (install time only); the worker runs the result with onnxruntime. The export is
checked against the torch model on windows of several lengths before it is moved into place, and it
carries the SHA-256 of the weights it was made from, which the runtime checks.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from asr_engine.settings import AsrSettings

from .weights import METADATA_KEY, WEIGHTS_SHA256, onnx_path, weights_path

INPUT, OUTPUT = "feats", "embeddings"
# Largest difference accepted between onnxruntime and torch on the same windows; the embeddings'
# values are of order 1 and the speakers' cosine similarities differ by tenths, so 1e-3 is far below
# anything that changes a label (measured: about 2e-5).
TOLERANCE = 1e-3
_CHECK_FRAMES = (60, 151, 298)  # 0.6 s to 3 s: one, two and three of the mask's 100-frame segments


def export(out: Path) -> float:
    """Write the ONNX model to `out` (atomically); returns the largest difference measured against torch."""
    import onnx
    import onnxruntime as ort
    import torch

    from .campplus import FEATURE_BINS, CamPlusPlus

    model = CamPlusPlus()
    model.load_state_dict(torch.load(weights_path(), map_location="cpu", weights_only=True))
    model.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, staging_name = tempfile.mkstemp(prefix=".campplus-", suffix=".onnx", dir=out.parent)
    os.close(fd)
    staging = Path(staging_name)
    threads = torch.get_num_threads()
    # One thread: the export runs a few small forward passes, and OpenMP threads spinning on a busy
    # machine made them several times slower (measured: 0.6 s with 2 threads, 0.1 s with 1).
    torch.set_num_threads(1)
    try:
        example = torch.randn(2, 200, FEATURE_BINS)
        with warnings.catch_warnings():
            # torch deprecates this (TorchScript) exporter in favour of the dynamo one, which needs
            # onnxscript besides onnx; this one still works, and its result is checked below.
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                model,
                (example,),
                str(staging),
                dynamo=False,
                input_names=[INPUT],
                output_names=[OUTPUT],
                dynamic_axes={INPUT: {0: "batch", 1: "frames"}, OUTPUT: {0: "batch"}},
                opset_version=17,
            )
        proto = onnx.load(str(staging))
        onnx.helper.set_model_props(proto, {METADATA_KEY: WEIGHTS_SHA256})
        onnx.save(proto, str(staging))
        session = ort.InferenceSession(str(staging), providers=["CPUExecutionProvider"])
        generator = torch.Generator().manual_seed(0)
        worst = 0.0
        for frames in _CHECK_FRAMES:
            feats = torch.randn(2, frames, FEATURE_BINS, generator=generator)
            with torch.no_grad():
                expected = model(feats).numpy()
            got = session.run([OUTPUT], {INPUT: feats.numpy()})[0]
            worst = max(worst, float(np.max(np.abs(got - expected))))
        if not worst <= TOLERANCE:
            raise RuntimeError(f"the ONNX export differs from the torch model by {worst:.2e} (> {TOLERANCE:.0e})")
        staging.chmod(0o644)  # mkstemp makes it private; workers may run as another user (the image's)
        staging.replace(out)
    finally:
        torch.set_num_threads(threads)
        staging.unlink(missing_ok=True)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="where to write it (default: ASR_DIARIZATION_MODEL or its default)")
    parser.add_argument("--force", action="store_true", help="export again even if the file exists")
    args = parser.parse_args()
    settings = AsrSettings()
    out = args.out or onnx_path(settings.asr_diarization_model, Path(settings.asr_model_cache_dir))
    if out.is_file() and not args.force:
        print(f"CAM++ speaker model already exported: {out}")
        return
    worst = export(out)
    print(f"CAM++ speaker model exported to {out} (largest difference from torch: {worst:.1e})")


if __name__ == "__main__":
    main()
