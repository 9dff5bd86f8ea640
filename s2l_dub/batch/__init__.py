"""Running dub jobs unattended: the watch folder (and batch recipes as they land)."""
