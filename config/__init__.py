"""Typed settings and the default configuration files (features, rules, Serve options)."""
