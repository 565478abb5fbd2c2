"""Errors of the feature store layer that both `ecom.features.store` (the `ecom` commands)
and the Feast plugins (`online_store`, loaded by the `feast` CLI too) raise."""


class OlderSnapshot(RuntimeError):
    """The online store already holds a newer snapshot than the one asked to be written."""
