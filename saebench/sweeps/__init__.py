"""Sweeps beyond one process: plan (SAE x task units grouped into jobs that share a model, hook and data),
execute the jobs on an engine (this process, one worker per local GPU), and read progress and completeness
from the results folder alone (`status`, `collect`)."""
