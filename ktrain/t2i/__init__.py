"""Korean prompts to images, measured: the Korean-encoder pipeline against translate-then-generate.

``prompts`` (the bundled K-contents prompt set), ``translator`` (Korean → English through a seq2seq
model), ``models`` (Stable Diffusion with a replacement text encoder), ``render`` (one image, each stage
timed), ``pipelines`` (the registry: ``ko-encoder``, ``translate``, ``english-reference``, ``enriched``; ``enrich``
builds the last one's text), ``clipscore``
(CLIP score against a text), ``plan`` (which model each pipeline and score uses, the defaults) and
``locate`` (where a model will load from, found before any image), ``evaluate`` (``kcli eval t2i``),
``report`` (Markdown + HTML), ``serve`` (``kcli serve``, the web demo), ``stages`` (the x2 latent upscaler
and the SDXL refiner after the base).
"""
