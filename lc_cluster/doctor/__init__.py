"""`lc-cluster doctor`: a short Slurm job that reads every node the way a serving job would see it, judges it against
the cluster file and the model, and measures the fabric with a collective."""
