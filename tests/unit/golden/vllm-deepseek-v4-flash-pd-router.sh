# vllm-recipe-deepseek-v4-flash.md, "H200 Single-Node PD (Mooncake)": the router (its --host and the engines'
# addresses are the job's, filled in at run time).
vllm-router --policy round_robin \
  --vllm-pd-disaggregation \
  --prefill http://$PREFILL:8000 \
  --decode http://$DECODE:8001 \
  --host $HOST \
  --port 30000 \
  --intra-node-data-parallel-size 4 \
  --kv-connector mooncake
