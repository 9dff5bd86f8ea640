"""s2l-dub: offline, per-actor lip-sync dubbing (the Speech2Lip method) for film and TV editors."""

__version__ = "0.1.0"
