"""Sweeps: many runs of one dataset with settings varied by grid, random or successive-halving search
(space.py: what is varied; study.py: the trials, through Optuna)."""
