"""Audio stage: per-frame speech features and speech/silence flags."""
