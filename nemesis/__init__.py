"""Faults that act only through the node interface; every fault opened can be healed."""
