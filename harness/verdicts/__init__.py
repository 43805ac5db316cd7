"""Whether two results agree.

In: an implementation's output and the float64 baseline. Out: the tolerance, the comparison's
metrics and a `Record` (one CSV row).
"""
