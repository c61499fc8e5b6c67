#!/usr/bin/env bash
# Here (a machine that reaches Debian's registry): the Debian bookworm packages that scripts/gpu/slurm-site.sh
# unpacks on a lent GPU machine, into .gpu-bring/debs (9.4 MB; gitignored, carried with the last engine piece).
# Slurm, munge and iproute2 with the libraries they link, less what every Ubuntu 24.04 has (libc, its loader, the
# packaging tools): docs/hardware/2026-11-24-h100-slurm-probe/ lists what such a machine lacks.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .gpu-bring/debs
cd .gpu-bring/debs
apt-get download -q \
  slurmd slurmctld slurm-client slurm-wlm-basic-plugins munge libmunge2 iproute2 \
  libdbus-1-3 libjson-c5 liblua5.1-0 libyaml-0-2 libhwloc15 libnuma1 liblz4-1 libreadline8 libtinfo6 libpam0g \
  libgcrypt20 libgpg-error0 libbz2-1.0 zlib1g liblzma5 libzstd1 libbpf1 libelf1 libmnl0 libxtables12 libbsd0 \
  libmd0 libcap2 libcap-ng0 libaudit1 libaudit-common libselinux1 libpcre2-8-0 libsemanage2 libsemanage-common \
  libsepol2 libdb5.3 libtirpc3 libtirpc-common libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 \
  libkeyutils1 libcom-err2 libcrypt1
ls | wc -l
