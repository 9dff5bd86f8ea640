import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def samples_dir() -> Path:
    return Path(os.environ.get("S2L_SAMPLES", ROOT.parent / "shared" / "samples"))


@pytest.fixture(scope="session")
def samples() -> Path:
    path = samples_dir()
    if not (path / "actors").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"sample footage not found at {path} (set S2L_SAMPLES)")
        pytest.skip(f"sample footage not found at {path}")
    return path


@pytest.fixture(scope="session")
def may_dataset(samples, tmp_path_factory):
    """The 5 s sample actor prepared once for the whole session."""
    from s2l_dub.dataset.prepare import ClipInput, prepare_actor

    out = tmp_path_factory.mktemp("work")
    return prepare_actor([ClipInput(samples / "actors" / "may_en_5s.mp4")], "may", out)


@pytest.fixture(scope="session")
def static_dataset(samples, tmp_path_factory):
    """The very stable German anchor (20 s), for pose steadiness."""
    from s2l_dub.dataset.prepare import ClipInput, prepare_actor

    out = tmp_path_factory.mktemp("work_de")
    return prepare_actor([ClipInput(samples / "actors" / "anchor_de_20s.mp4")], "anchor_de", out)


def one_shot_edit(samples: Path, folder: Path, first_frame: int = 0, metadata: dict | None = None) -> Path:
    """``folder``/edit.otio: one 100-frame shot of the real 5 s actor (copied in as may.mp4, from
    ``first_frame``), with a real speech stem beside it (stem.wav). Returns the timeline's path."""
    import shutil

    import opentimelineio as otio

    from s2l_dub.timeline.shots import frame_range

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(samples / "actors" / "may_en_5s.mp4", folder / "may.mp4")
    shutil.copy(samples / "dub_audio" / "english_60s.wav", folder / "stem.wav")
    clip = otio.schema.Clip(name="may", metadata=metadata or {}, source_range=frame_range(first_frame, 100, 25),
                            media_reference=otio.schema.ExternalReference(target_url="may.mp4",
                                                                          available_range=frame_range(0, 125, 25)))
    timeline = otio.schema.Timeline(name="edit")
    timeline.tracks.append(otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video, children=[clip]))
    otio.adapters.write_to_file(timeline, str(folder / "edit.otio"))
    return folder / "edit.otio"


def tiny_train_config():
    from s2l_dub.train.config import TrainConfig

    return TrainConfig(steps=30, batch_size=4, expert_steps=20, expert_batch=32, checkpoint_every=30,
                       preview_every=30, log_every=5)


@pytest.fixture(scope="session")
def may_model(may_dataset, tmp_path_factory):
    """A tiny model of the 5 s actor (30 steps): enough to exercise rendering, not to judge quality."""
    from s2l_dub.train.trainer import train_actor

    folder = tmp_path_factory.mktemp("may_model")
    train_actor(may_dataset.root, folder, tiny_train_config())
    return folder


@pytest.fixture(scope="session")
def thirty_fps(samples, tmp_path_factory):
    """A 30 fps clip prepared and tiny-trained: (video, dataset root, model folder)."""
    from s2l_dub.dataset.prepare import ClipInput, prepare_actor
    from s2l_dub.train.trainer import train_actor

    video = samples / "clips" / "retalking_face_4.mp4"
    out = tmp_path_factory.mktemp("work30")
    dataset = prepare_actor([ClipInput(video)], "r4", out)
    folder = out / "model"
    train_actor(dataset.root, folder, tiny_train_config())
    return video, dataset.root, folder
