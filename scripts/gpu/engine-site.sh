# Sourced by the scripts beside it, on a lent GPU machine (no registry). Installs, once, the vLLM 0.22.0 wheel set
# brought along in .gpu-bring/p*/ (a tar of the wheels in shared/reference/gpu-wheels-vllm-0.22.0.txt, plus NIXL and
# vllm-router for prefill/decode, split into pieces of 56 MiB, each carried in its own call) into .gpu-bring/site,
# and puts it on the paths. Keeps NVLink multicast off: a shared host's GPUs (KINDS.md).
source scripts/gpu/pieces.sh
install_pieces '.gpu-bring/p*/gpuw-part-*' .gpu-bring/site || return 1
# vLLM takes an importable nixl_ep for its expert-parallel all-to-all kernels, which need cuTile (cuda.tile), not on
# this image; the KV connector needs only nixl itself.
rm -rf .gpu-bring/site/nixl_ep .gpu-bring/site/nixl_ep_cu13
export PYTHONPATH=$PWD/.gpu-bring/site:$PWD PYTHONUNBUFFERED=1 PATH=$PWD/.gpu-bring/site/bin:$PATH
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
