"""Hostile input: tampered manifests, crafted URLs, bombs, malformed descriptors, dangerous --out and --overwrite."""
