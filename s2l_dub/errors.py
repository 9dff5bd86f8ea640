"""One root error for everything a user can cause; the CLI prints these as one line.

Anything that is not an ``S2LError`` is a bug in s2l-dub and keeps its traceback.
"""

from __future__ import annotations


class S2LError(Exception):
    """A problem with the user's input or environment, reported in one line."""


class MediaError(S2LError):
    """A media file that cannot be read as needed."""


class MediaDecodeError(MediaError):
    """ffmpeg/ffprobe could not read the file (corrupt, truncated or not media)."""


class NoAudioError(MediaError):
    """The file has no audio stream where one is needed."""


class RangeError(S2LError):
    """A requested time range is malformed or lies outside the media."""


class FaceError(S2LError):
    """Face analysis could not follow the actor."""


class NoFaceError(FaceError):
    """No face in the footage."""


class FaceLostError(FaceError):
    """The face is missing on too many frames."""


class ClipTooShortError(S2LError):
    """Too little usable footage to train on."""


class BackendUnavailableError(S2LError):
    """A named backend exists but cannot run here (missing package or weights)."""


class UnknownBackendError(S2LError):
    """A backend name that is not registered; the message lists what is."""


class ArtifactVersionError(S2LError):
    """An artifact written by an incompatible version of s2l-dub."""


class TimelineError(S2LError):
    """A timeline or its companion files (subtitles, actor mapping) cannot be used."""
