"""Models shipped in the wheel (demo checkpoints of the unpaired methods)."""
