"""Render stage: make an actor's clip speak new audio, frame-exact, touching only the mouth."""
