# longcat-flash-deployment-guide.md / sglang-longcat-flash-article.md: SGLang, single node (8 x H20-141G)
python3 -m sglang.launch_server \
    --model meituan-longcat/LongCat-Flash-Chat-FP8 \
    --trust-remote-code \
    --attention-backend flashinfer \
    --enable-ep-moe \
    --tp 8
