"""Vigil's shared vocabulary: domain types, the error tree and the clock.

Imports nothing of ours.
"""
