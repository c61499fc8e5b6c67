# Sourced by the scripts beside it, on a lent GPU machine (no registry, no Slurm, no munge, no `ip`): unpacks the
# Debian bookworm packages brought in .gpu-bring/debs (Slurm 22.05, munge, iproute2 and the libraries a stock Ubuntu
# 24.04 lacks; scripts/gpu/bring-slurm.sh fetches them) into /, without replacing any file the machine has: its own
# (newer) libraries stay. slurmd starts slurmstepd from its built-in /usr/sbin, so the packages go to their own paths.
# Daemons live in /usr/sbin, which a lent machine's non-login shell leaves off PATH.
export PATH=$PATH:/usr/sbin:/sbin
if ! command -v slurmd >/dev/null || ! command -v ip >/dev/null; then
  stage=$(mktemp -d)
  for deb in .gpu-bring/debs/*.deb; do dpkg-deb -x "$deb" "$stage" || return 1; done
  # Bookworm's packages still put files in /lib, /bin and /sbin, which are links into /usr on Ubuntu 24.04.
  for d in lib lib64 bin sbin; do
    if [ -d "$stage/$d" ]; then mkdir -p "$stage/usr/$d" && cp -a "$stage/$d/." "$stage/usr/$d/" && rm -rf "${stage:?}/$d"; fi
  done
  cp -a --update=none "$stage/." / || return 1
  rm -rf "$stage"
  # What the packages' postinst does with update-alternatives: slurmd, slurmctld and slurmstepd by their plain names.
  for wlm in /usr/sbin/*-wlm; do [ -e "${wlm%-wlm}" ] || ln -s "$wlm" "${wlm%-wlm}"; done
  ldconfig
fi
missing=$(ldd /usr/sbin/slurmd /usr/sbin/slurmctld /usr/sbin/slurmstepd /usr/sbin/munged "$(command -v ip)" \
  /usr/lib/x86_64-linux-gnu/slurm-wlm/*.so 2>/dev/null | grep "not found" | sort -u)
if [ -n "$missing" ]; then echo "slurm-site: libraries still missing: $missing" >&2; return 1; fi
