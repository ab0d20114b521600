"""Releasing trained models: model-card code samples that run as written, and ``kcli publish model``.

``usage`` renders the code block a model card shows (the LoRA and the Korean encoder), from Hub ids when
they are known and never from this machine's paths; ``model`` stages a LoRA or encoder folder with its card
pointed at the Hub ids it is published under, and uploads it.
"""
