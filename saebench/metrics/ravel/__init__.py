"""RAVEL-style attribute disentanglement (issue 18, in progress): data, knowledge filter, pairs, the
intervention, mask training (MDBM) and scoring exist and are tested; the plugin is not registered yet."""
