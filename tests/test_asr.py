"""Speech recognition of a dub stem with the Whisper model that ships in a package (English tiny)."""

import numpy as np
import pytest
import soundfile as sf

from s2l_dub.audio.asr import AsrConfig, transcribe
from s2l_dub.audio.vad import VadConfig, speech_segments
from s2l_dub.errors import BackendUnavailableError
from s2l_dub.media import load_audio
from s2l_dub.timeline.job import DubConfig, plan_dub
from s2l_dub.timeline.sample import build_sample_project

pytest.importorskip("faster_whisper")


@pytest.fixture(scope="module")
def english(samples):
    return load_audio(samples / "dub_audio" / "english_60s.wav")[: 16000 * 20]


def test_transcript_words_fall_on_detected_speech(english):
    utterances = transcribe(english, AsrConfig(language="en"))
    text = " ".join(u.text for u in utterances)
    assert "Biden" in text and "Flynn" in text
    speech = speech_segments(english, 16000, VadConfig())
    words = [w for u in utterances for w in u.words]
    assert len(words) > 20
    inside = [any(a - 0.3 <= (w.start_s + w.end_s) / 2 <= b + 0.3 for a, b in speech) for w in words]
    assert np.mean(inside) > 0.9


def test_bundled_model_refuses_other_languages(english):
    with pytest.raises(BackendUnavailableError, match="English-only"):
        transcribe(english, AsrConfig(language="fr"))


def test_job_takes_cues_from_the_transcript(samples, english, tmp_path):
    project = build_sample_project(samples, tmp_path)
    stem = tmp_path / "english_stem.wav"
    sf.write(stem, english, 16000)
    plan = plan_dub(project.timeline, stem, DubConfig(lang="en", asr=AsrConfig(language="en")))
    assert "transcript" in plan.speech_from and plan.transcript
    assert plan.segments and all(seg.text for seg, _ in plan.segments)
