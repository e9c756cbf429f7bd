"""The index rebuild pipeline: `python -m index.build`."""
