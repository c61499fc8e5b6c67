"""Patterns for the strings users give (cluster files, model files, options), matched whole: a value that does not
match from its first character to its last, a trailing newline included, is refused. Nothing a shell, Slurm or an
#SBATCH line would interpret gets through."""

from __future__ import annotations

import re

from lc_cluster.errors import LcError

# Every pattern is re.ASCII: \d would also take other scripts' digits (full-width ones), which Slurm and NCCL don't.
# Slurm names, interface names, addresses: letters, digits and a few separators.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}", re.ASCII)
CLUSTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)
PATH = re.compile(r"/[A-Za-z0-9._/+@-]*", re.ASCII)
# A path on every node, where %N stands for the node's name (as in Slurm's file name patterns).
NODE_PATH = re.compile(r"/([A-Za-z0-9._/+@-]|%N)*", re.ASCII)
# A Slurm host list as sbatch --nodelist/--exclude take it: n1,n2 or gpu[01-04,07].
HOSTLIST = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[0-9,-]+\])?(,[A-Za-z0-9][A-Za-z0-9._-]*(\[[0-9,-]+\])?)*", re.ASCII
)
SLURM_TIME = re.compile(r"(\d+-)?\d{1,2}(:\d{2}){0,2}|\d+", re.ASCII)
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
# The batch script's own variables and Slurm's: nothing from a cluster file, a model file or a fix may set them.
MANAGED_ENV_PREFIXES = ("LC_", "SLURM_")
# An environment name that says its value is a secret (HF_TOKEN, WANDB_API_KEY, DB_PASSWORD, GITHUB_PAT, ...), in
# upper case: such a value is never shown, recorded or written into a script.
SECRET_ENV = re.compile(r"(.*_)?(TOKEN|KEY|SECRET|PASSWORD|PASSWD|PASS|PWD|PAT|JWT|CREDENTIALS?)(_.*)?", re.ASCII)
# What `sbatch --parsable` prints: the job id, then ";cluster" on a multi-cluster Slurm. ASCII digits only.
SBATCH_ANSWER = re.compile(r"(?P<job_id>[0-9]+)(;[A-Za-z0-9._-]+)?", re.ASCII)
SBATCH_OPTION = re.compile(r"--[a-z][a-z-]*(=[A-Za-z0-9._:,@+/=-]+)?", re.ASCII)
# NCCL's list syntax: mlx5_0,mlx5_1 or mlx5_0:1, optionally led by ^ (exclude) or = (exact).
IB_HCA = re.compile(r"[=^]?[A-Za-z0-9_.-]+(:\d+)?(,[A-Za-z0-9_.-]+(:\d+)?)*", re.ASCII)
# A registry reference (pyxis writes host#image), or an absolute path to an apptainer .sif file.
IMAGE = re.compile(r"[A-Za-z0-9/][A-Za-z0-9._:/@#+-]*", re.ASCII)
# A dotted IPv4 address, as nodes record theirs and endpoints name them.
IPV4 = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}", re.ASCII)
MOUNT = re.compile(r"/[A-Za-z0-9._/+@-]*:/[A-Za-z0-9._/+@-]*", re.ASCII)
# A hub id (org/name) or an absolute local path.
MODEL_SOURCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*|/[A-Za-z0-9._/+-]+", re.ASCII)
MODEL_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}", re.ASCII)
MODEL_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*", re.ASCII)
# Release numbers as engines publish them (0.33.0, 0.5.1.post3, 0.11.0rc1): no spaces, no newlines.
VERSION = re.compile(r"[0-9]+(\.[0-9]+)*([.-]?(a|b|rc|post|dev)[0-9]*)*", re.ASCII)
# A Debian package name (Debian policy 5.6.1), optionally with apt's =VERSION or /RELEASE: never an option.
DEB_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+|/[a-z0-9-]+)?", re.ASCII)


def option(pattern: re.Pattern[str], flag: str, value: str | None, form: str) -> None:
    """A command-line value: LcError (exit 2) naming the option and the form it takes."""
    try:
        check(pattern, flag, value)
    except ValueError:
        raise LcError(f"{flag} {value!r}: give {form}") from None


def hostlist(flag: str, value: str | None) -> None:
    option(HOSTLIST, flag, value, "a Slurm node list such as n1,n2 or gpu[01-04]")


# One name of a host list, with its bracketed numbers: the commas inside the brackets separate numbers, not names.
_HOST_ENTRY = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[([0-9,-]+)\])?", re.ASCII)
# Numbers as Slurm reads them (an unsigned long), low to high.
_HOST_RANGE = re.compile(r"([0-9]{1,18})(?:-([0-9]{1,18}))?", re.ASCII)
# Slurm's own bound on the hosts of one range (MAX_RANGE): more is a typo, and would fill memory here.
_MAX_HOSTS = 64 * 1024


def hostnames(flag: str, value: str | None) -> list[str]:
    """Each node a host list names, as `scontrol show hostnames` writes them: gpu[01-03,07],n9 is gpu01, gpu02,
    gpu03, gpu07 and n9 (a range is as wide as its first number); none for None. LcError (exit 2) for a list Slurm
    would refuse."""
    hostlist(flag, value)
    names: list[str] = []
    for entry in _HOST_ENTRY.finditer(value or ""):
        prefix, ranges = entry.groups()
        if ranges is None:
            names.append(prefix)
            continue
        for part in ranges.split(","):
            bounds = _HOST_RANGE.fullmatch(part)
            if bounds is None or int(bounds[1]) > int(bounds[2] or bounds[1]):
                raise LcError(f"{flag} {value!r}: {part!r} is not a range such as 01-04 or 7")
            lo, hi = bounds[1], bounds[2] or bounds[1]
            if len(names) + int(hi) - int(lo) + 1 > _MAX_HOSTS:
                raise LcError(f"{flag} {value!r} names more than {_MAX_HOSTS} nodes")
            names += [f"{prefix}{n:0{len(lo)}d}" for n in range(int(lo), int(hi) + 1)]
    return names


def check(pattern: re.Pattern[str], what: str, value: str | None) -> str | None:
    """The value itself, or ValueError naming what was expected (pydantic turns it into a message with the key)."""
    if value is not None and not pattern.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid {what}")
    return value
