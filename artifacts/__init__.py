"""Model artifacts: the manifest, the on-disk format, and the scoring runtime shared by
``training`` (which writes artifacts) and ``engine`` (which serves them).
"""
