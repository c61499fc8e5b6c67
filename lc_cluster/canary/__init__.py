"""The canary: a shrunken model of the same architecture, served with the plan's own flags on the GPUs at hand."""
