"""lc-cluster: provision GPU hosts and serve huge MoE models with vLLM or SGLang on Slurm."""

__version__ = "0.1.0"
