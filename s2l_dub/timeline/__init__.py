"""Timeline stage: edits in and out (OTIO adapters, our FCPXML), shots, actors, dialogue segments, write-back."""
