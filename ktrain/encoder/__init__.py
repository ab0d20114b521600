"""The Korean text encoder: distil Stable Diffusion's English CLIP text encoder into a Korean one.

``tokenizer`` (CLIP-format Korean BPE), ``data`` (parallel manifest → pairs), ``student`` (init from the
teacher with a new vocabulary), ``losses`` (pure loss functions), ``loop`` (the training loop),
``evaluate`` (retrieval and denoising agreement), ``export`` (a diffusers-ready folder).
"""
