"""The local sandbox cluster: real Slurm in network namespaces, a real CPU vLLM, a tiny model built here."""
