# vllm-recipe-deepseek-v4-flash.md: "single-node DP + EP with --data-parallel-size 4", with the recipe's model
# flags (those both of its commands share, less the PD, port and tuning ones)
vllm serve deepseek-ai/DeepSeek-V4-Flash \
  --trust-remote-code \
  --kv-cache-dtype fp8 \
  --block-size 256 \
  --data-parallel-size 4 \
  --enable-expert-parallel \
  --tokenizer-mode deepseek_v4 \
  --reasoning-parser deepseek_v4
