"""Callbacks observe and log; they never change training."""
