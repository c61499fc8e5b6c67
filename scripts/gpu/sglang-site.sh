# Sourced by the scripts beside it, on a lent GPU machine (no registry): installs, once, the SGLang wheel set brought
# along (bring-sglang.sh: .gpu-bring/sglang-0.5.17/p*/, a release's changes in .gpu-bring/sglang-VERSION/p*/, and the bench
# and pd sets where they were brought) and
# puts it on the paths, beside the image's torch 2.11.0. SGLANG_VERSION picks the release (0.5.17 unless given).
# SGLang pins transformers 5.12.1 (and its tokenizers); the image has 5.17, with which SGLang 0.5.17 fails at import
# ("'qwen3_asr' is already used by a Transformers config"). The pinned two live in a folder of their own, first on
# the path; SGLANG_TRANSFORMERS=image leaves them off, to show the failure. Keeps NVLink multicast off (KINDS.md).
source scripts/gpu/pieces.sh
sglang_site=.gpu-bring/sglang-site
if [ ! -f "$sglang_site/.ready" ]; then
  install_pieces '.gpu-bring/sglang-0.5.17/p*/*' "$sglang_site" || return 1
  rm -rf "$sglang_site-pins" && mkdir -p "$sglang_site-pins"
  mv "$sglang_site"/transformers* "$sglang_site"/tokenizers* "$sglang_site-pins/" || return 1
fi
sglang_version=${SGLANG_VERSION:-0.5.17}
if [ "$sglang_version" != 0.5.17 ]; then
  overlay_pieces ".gpu-bring/sglang-$sglang_version/p*/*" "$sglang_site" "$sglang_site-$sglang_version" || return 1
  sglang_site=$sglang_site-$sglang_version
fi
sglang_path=$PWD/$sglang_site
[ "${SGLANG_TRANSFORMERS:-pinned}" = image ] || sglang_path=$PWD/.gpu-bring/sglang-site-pins:$sglang_path
# SGLANG_EXTRAS="bench pd": those sets too, once all their pieces are there (a set arrives over several calls).
for extra in ${SGLANG_EXTRAS:-}; do
  install_pieces ".gpu-bring/sglang-$extra/p*/*" ".gpu-bring/sglang-$extra-site" || return 1
  sglang_path=$sglang_path:$PWD/.gpu-bring/sglang-$extra-site
done
export PYTHONPATH=$sglang_path:$PWD PYTHONUNBUFFERED=1 PATH=$PWD/$sglang_site/bin:$PWD/.gpu-bring/sglang-pd-site/bin:$PATH
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
