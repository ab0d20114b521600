"""Caption backends, registered by name in :data:`kdata.caption.backends.base.BACKENDS`."""
