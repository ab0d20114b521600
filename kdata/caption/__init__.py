"""Captioning: ``caption_en`` / ``caption_ko`` from templates, alt text, image captioners and translators.

See :mod:`kdata.caption.stage` for the columns it adds and :mod:`kdata.caption.config` for the config file.
Importing this package is cheap: models load inside backends' ``load``, never at import time.
"""
