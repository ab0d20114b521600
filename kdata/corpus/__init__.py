"""The Korean-English parallel corpus: ``kcli corpus build`` and the bundled K-contents sample."""
