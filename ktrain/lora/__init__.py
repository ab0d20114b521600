"""LoRA on Stable Diffusion 1.x from an image manifest, and generation with it (``kcli train lora``,
``kcli generate``).

``config`` (settings) -> ``data`` (manifest rows, buckets, resize/crop) -> ``cache`` (latents and text
states on disk) -> ``setup`` (models, LoRA, optimizer) -> ``loop`` (steps, checkpoints, validation) ->
``export`` (diffusers and kohya files, model card); ``loading`` and ``generate`` draw with the result.
"""
