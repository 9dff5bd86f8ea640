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
