"""How each implementation computes.

In: a case's arrays. Out: outputs and gradients from the float64 reference, torch, scipy, the
peers and torch@DEVICE, and each call's `Outcome`. The resolver (`registry`) turns an
implementation's name into an `Implementation` value, once, for the layers above.
"""
