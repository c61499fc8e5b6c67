# Sourced after engine-site.sh, on a lent GPU machine: another vLLM release beside the brought 0.22.0 set, for
# measuring the quirk table's ranges. Only the wheels that release changes are brought (.gpu-bring/vllm-VERSION/q*/:
# the vllm wheel and the pinned dependencies that differ; fetched here with `pip download --no-deps`, tarred, split
# into pieces of 56 MiB). They go over a hard-linked copy of the 0.22.0 site, which stays as it was.
# Usage: source scripts/gpu/engine-overlay.sh VERSION
overlay_version=${1:?the vLLM release}
overlay_site=.gpu-bring/site-$overlay_version
source scripts/gpu/pieces.sh
overlay_pieces ".gpu-bring/vllm-$overlay_version/q*/*" .gpu-bring/site "$overlay_site" || return 1
rm -rf "$overlay_site/nixl_ep" "$overlay_site/nixl_ep_cu13"
export PYTHONPATH=$PWD/$overlay_site:$PWD PATH=$PWD/$overlay_site/bin:$PATH
