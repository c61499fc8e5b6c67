# longcat-flash-deployment-guide.md / vllm-longcat-flash.md: vLLM, single node (FP8)
vllm serve meituan-longcat/LongCat-Flash-Chat-FP8 \
    --trust-remote-code \
    --enable-expert-parallel \
    --tensor-parallel-size 8
