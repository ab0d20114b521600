"""A random-weight two-layer Llama with a byte-level BPE tokenizer, saved like a Hub model.

It stands in for a decoder-only model that translates when prompted (Qwen2.5, EXAONE, ...), so the
``translate-lm`` backend's real path runs offline: AutoTokenizer + AutoModelForCausalLM, left-padded
batches, greedy generate. Byte-level pieces cover any text, Korean included, with no unknown token.
"""

from __future__ import annotations

from pathlib import Path

SPECIALS = ["<pad>", "<s>", "</s>"]
CHAT_TEMPLATE = ("{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant:{% endif %}")
TRAINING_TEXT = [
    "Translate Korean to English: 한복을 입은 여인이 마당에 서 있다\nEnglish: A woman in hanbok stands in a yard",
    "Translate English to Korean: an ink painting of plum blossoms\nKorean: 매화를 그린 수묵화",
]


def build_tiny_causal_lm(out_dir: Path, chat_template: str | None = None) -> Path:
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    backend.train_from_iterator(TRAINING_TEXT, trainer=trainer)
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", bos_token="<s>",
                                                     eos_token="</s>")
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    config = transformers.LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                                      max_position_embeddings=256, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = transformers.LlamaForCausalLM(config)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
