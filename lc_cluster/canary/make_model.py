"""Write a canary model folder: the shrunken config and a locally trained tokenizer, no weights (engines start it
with --load-format dummy). Runs with the engine's own interpreter, which has transformers and tokenizers:

    python -m lc_cluster.canary.make_model OUT SOURCE [MTP_LAYERS]

SOURCE is a config.json path, or a model type whose transformers config class holds the real model's defaults
(longcat_flash). Nothing is downloaded."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lc_cluster.canary.shrink import shrink

SPECIAL = ["<unk>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{{ eos_token }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
_TEXT = "The quick brown fox jumps over the lazy dog. Serving large models needs many GPUs and a careful plan. " * 40


def source_config(source: str) -> dict[str, object]:
    path = Path(source)
    if path.suffix == ".json":
        config: dict[str, object] = json.loads(path.read_text())
        return config
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    config = dict(AutoConfig.for_model(source).to_dict())
    # What a checkpoint's config.json says and a config class's defaults leave out.
    config["architectures"] = config.get("architectures") or [MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[source]]
    config["dtype"] = config.get("dtype") or "bfloat16"
    if config.get("zero_expert_num") and not config.get("zero_expert_type"):
        config["zero_expert_type"] = "identity"  # LongCat-Flash's zero experts pass the token through
    return config


def main(out: Path, source: str, mtp_layers: int) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator([_TEXT], trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="</s>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)

    config = shrink(source_config(source), vocab_size=len(tokenizer))
    if mtp_layers:
        config["num_nextn_predict_layers"] = mtp_layers
    config.update(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
