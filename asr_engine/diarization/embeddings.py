"""Speaker embeddings of audio windows: kaldi-native-fbank features, CAM++ on onnxruntime (no torch).

Features are what CAM++ was trained on (3D-Speaker's recipe): 80 log-mel bins of Kaldi's fbank
(25 ms povey windows every 10 ms, no dither) on samples in [-1, 1], each window's features minus
their mean over the window. They are computed per window, as in training: overlapping windows
compute some frames twice, which costs a few percent of the model's time and keeps memory flat on
long recordings.
"""

from __future__ import annotations

from pathlib import Path

import kaldi_native_fbank as knf
import numpy as np
import onnxruntime as ort

from common.asr_jobs import SAMPLE_RATE

from .weights import METADATA_KEY, WEIGHTS_SHA256, SpeakerModelMissing, missing_onnx

FEATURE_BINS = 80
MIN_WINDOW_FRAMES = 20  # the model's time axis is halved once; below this a window says little
_BATCH = 64  # windows per onnxruntime call: bounds the memory of long recordings


def fbank(audio: np.ndarray) -> np.ndarray:
    """(frames, 80) log-mel features of 16 kHz mono float audio, one frame per 10 ms."""
    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = SAMPLE_RATE
    opts.frame_opts.dither = 0.0  # deterministic, as in 3D-Speaker's inference
    opts.mel_opts.num_bins = FEATURE_BINS
    extractor = knf.OnlineFbank(opts)
    extractor.accept_waveform(SAMPLE_RATE, np.ascontiguousarray(audio, dtype=np.float32))
    extractor.input_finished()
    count = extractor.num_frames_ready
    if count == 0:
        return np.zeros((0, FEATURE_BINS), dtype=np.float32)
    return np.stack([extractor.get_frame(i) for i in range(count)]).astype(np.float32)


class SpeakerEmbedder:
    """Loads the exported CAM++ model once; `embed` is blocking (run it in a thread)."""

    def __init__(self, model_path: Path, threads: int = 1) -> None:
        if not model_path.is_file():
            raise missing_onnx(model_path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        made_from = self._session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if made_from != WEIGHTS_SHA256:
            raise SpeakerModelMissing(
                f"{model_path} was not exported from the pinned CAM++ weights ({WEIGHTS_SHA256[:12]}…): "
                "export it again with python -m asr_engine.diarization.export --force"
            )
        self._input = self._session.get_inputs()[0].name

    def embed(self, windows: list[np.ndarray]) -> np.ndarray:
        """L2-normalised embeddings (len(windows), 192) of the windows' fbank features."""
        result: np.ndarray | None = None
        # Windows of one length run as one batch (most windows have the full length).
        by_length: dict[int, list[int]] = {}
        for index, feats in enumerate(windows):
            by_length.setdefault(len(feats), []).append(index)
        for indices in by_length.values():
            for first in range(0, len(indices), _BATCH):
                chunk = indices[first : first + _BATCH]
                batch = np.stack([windows[i] for i in chunk])
                batch -= batch.mean(axis=1, keepdims=True)
                embeddings = np.asarray(self._session.run(None, {self._input: batch})[0])
                if result is None:
                    result = np.zeros((len(windows), embeddings.shape[1]), dtype=np.float32)
                result[chunk] = embeddings
        if result is None:
            return np.zeros((0, 0), dtype=np.float32)
        norms = np.linalg.norm(result, axis=1, keepdims=True)
        return result / np.maximum(norms, 1e-8)
