"""RAVEL-style attribute disentanglement (issue 18; in progress: data, positions and answer matching so far,
the plugin is not registered yet)."""
