"""Serving jobs on Slurm: the job value, its batch script, the backend, records and the watch."""
