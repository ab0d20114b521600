"""Korean-encoder pipeline against translate-then-generate: what the translation costs, measured side by side.

Run: ``.venv/bin/python bench/t2i_pipelines.py [--prompts 10] [--threads 1]``. Two parts, one run:

1. **Tiny presets, end to end** (``kcli eval t2i`` on the first N bundled prompts, ``tiny-sd`` 64 px,
   2 steps, the tiny M2M100 translator): every stage of every pipeline as the evaluation reports it.
2. **Real model sizes, text stage only**: SD 1.5's text encoder (CLIP ViT-L/14 text tower: 12 layers,
   width 768, 77 tokens; the Korean encoder kcli distils has the same shape) against M2M100-418M
   (``facebook/m2m100_418M``'s config: 12 + 12 layers, width 1024) translating, then that encoder. The
   weights are random (nothing can be downloaded here) — latency depends on shapes and token counts, not
   on weight values — so greedy decoding is held to the length a real translation has: the English
   reference's token count under the CLIP BPE, plus the language code and end-of-sentence. The Korean
   input's length is its token count under the tiny translator's byte-fallback sentencepiece.

Denoising and decoding are the same UNet and VAE in both pipelines; only the text stage differs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch


def tiny_end_to_end(prompts: int, out: Path) -> list[dict]:
    from ktrain.t2i.evaluate import T2IEvalConfig, evaluate_t2i

    config = T2IEvalConfig(base="tiny-sd", out=str(out), pipelines=["ko-encoder", "translate", "english-reference"],
                           translator="tiny-translator-ko-en", english_clip="tiny-clip", korean_clip="tiny-open-clip",
                           limit=prompts, steps=2, warmup=1)
    return evaluate_t2i(config).summary


def clip_l_text_encoder() -> torch.nn.Module:
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                            num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu")
    return CLIPTextModel(config).eval()


def m2m100_418m(vocab_size: int) -> torch.nn.Module:
    from transformers import M2M100Config, M2M100ForConditionalGeneration

    config = M2M100Config(vocab_size=vocab_size, d_model=1024, encoder_layers=12, decoder_layers=12,
                          encoder_attention_heads=16, decoder_attention_heads=16, encoder_ffn_dim=4096,
                          decoder_ffn_dim=4096, max_position_embeddings=1024, pad_token_id=1, bos_token_id=0,
                          eos_token_id=2, decoder_start_token_id=2)
    return M2M100ForConditionalGeneration(config).eval()


def _seconds(fn, *args: object, **kwargs: object) -> float:  # noqa: ANN001 - any callable
    started = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - started


def real_size_text_stage(prompts: int) -> dict[str, float]:
    from transformers import AutoTokenizer

    from kdata.models import resolve_model
    from ktrain.t2i.prompts import load_prompts

    clip_tokenizer = AutoTokenizer.from_pretrained(Path(resolve_model("tiny-sd")) / "tokenizer")
    ko_tokenizer = AutoTokenizer.from_pretrained(resolve_model("tiny-translator-ko-en", "translation"))
    encoder, translator = clip_l_text_encoder(), m2m100_418m(128112)
    encode_ms, translate_ms = [], []
    with torch.inference_mode():
        for index, prompt in enumerate(load_prompts(limit=prompts + 1)):
            ids = clip_tokenizer(prompt.ko, padding="max_length", max_length=77, truncation=True,
                                 return_tensors="pt").input_ids
            source = ko_tokenizer(prompt.ko, return_tensors="pt").input_ids
            # CLIP's count less its <|startoftext|> and <|endoftext|>, plus M2M100's __en__ and </s>: the same number
            length = len(clip_tokenizer(prompt.en).input_ids)
            encode = _seconds(encoder, ids)
            translate = _seconds(translator.generate, source, min_new_tokens=length, max_new_tokens=length,
                                 num_beams=1, do_sample=False)
            if index:  # the first prompt warms both models up
                encode_ms.append(encode * 1000)
                translate_ms.append(translate * 1000)
    encode, translate = statistics.median(encode_ms), statistics.median(translate_ms)
    return {"encode_ms": encode, "translate_ms": translate, "ratio": (translate + encode) / encode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=10, help="Bundled prompts measured (after one warm-up).")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: steady on a busy CPU).")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.prompts} bundled prompts, fp32 CPU")
    with tempfile.TemporaryDirectory() as tmp:
        summary = {s["pipeline"]: s for s in tiny_end_to_end(args.prompts, Path(tmp) / "eval")}
    print("\n1. tiny presets end to end (medians, ms): translate | text_encode | denoise | decode | total")
    for name, s in summary.items():
        cells = " | ".join(f"{s[f'{m}_median'] * 1000:8.1f}" for m in ("translate_s", "text_encode_s", "denoise_s",
                                                                          "decode_s", "total_s"))
        print(f"   {name:18s} {cells}")
    ko, tr = summary["ko-encoder"], summary["translate"]
    print(f"   text stage translate / ko-encoder: {tr['text_stage_s_median'] / ko['text_stage_s_median']:.1f}x; "
          f"whole image: {tr['total_s_median'] / ko['total_s_median']:.2f}x")
    real = real_size_text_stage(args.prompts)
    print("\n2. real sizes, text stage (medians): CLIP ViT-L/14 text encode "
          f"{real['encode_ms']:.1f} ms; M2M100-418M translate {real['translate_ms']:.1f} ms")
    print(f"   text stage translate + encode / Korean encode: {real['ratio']:.1f}x "
          f"(translation adds {real['translate_ms']:.0f} ms per prompt)")


if __name__ == "__main__":
    main()
