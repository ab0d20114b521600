"""A random-weight LLaVA (CLIP vision tower + Llama decoder) with a chat template, saved like a Hub model.

It stands in for a chat vision-language model (Qwen2-VL, LLaVA, ...) so the ``vlm`` backend's real path
runs offline: AutoProcessor + AutoModelForImageTextToText, apply_chat_template with an image, generate.
"""

from __future__ import annotations

from pathlib import Path

WORDS = ["<pad>", "<unk>", "<s>", "</s>", "<image>", "USER:", "ASSISTANT:", "이", "그림을", "설명해", "주세요", "."]
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'].upper() }}: {% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image> {% else %}{{ c['text'] }} {% endif %}{% endfor %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT: {% endif %}"
)


def build_tiny_vlm(out_dir: Path) -> Path:
    import torch
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers

    backend = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>",
        extra_special_tokens={"image_token": "<image>"},
    )
    image_processor = transformers.CLIPImageProcessor(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16})
    processor = transformers.LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=8, vision_feature_select_strategy="default",
        chat_template=CHAT_TEMPLATE, image_token="<image>", num_additional_image_tokens=1,
    )
    vision = transformers.CLIPVisionConfig(image_size=16, patch_size=8, hidden_size=16, intermediate_size=32,
                                           num_hidden_layers=1, num_attention_heads=2)
    text = transformers.LlamaConfig(vocab_size=len(WORDS), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                    num_attention_heads=2, num_key_value_heads=2, pad_token_id=0, bos_token_id=2,
                                    eos_token_id=3)
    config = transformers.LlavaConfig(vision_config=vision, text_config=text, image_token_id=WORDS.index("<image>"),
                                      vision_feature_layer=-1, vision_feature_select_strategy="default")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = transformers.LlavaForConditionalGeneration(config)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir
