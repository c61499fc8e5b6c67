"""`lc-cluster bench`: the engine's own benchmark client against a running job, judged and kept in a history."""
