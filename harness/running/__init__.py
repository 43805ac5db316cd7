"""Running cases through implementations.

In: cases, `Implementation` values and `RunOptions`. Out: every row of the report, in the cases'
order: the forward, transposed, gradient, layout and variant rows, in this process, in worker
processes that may die, or on a Dask cluster.
"""
