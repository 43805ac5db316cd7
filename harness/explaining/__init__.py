"""Why a result diverges.

In: a diverging output or gradient and the case's arrays. Out: the cause (a word of
`cases.causes`), found by the mutation families (flips, depth summation, padding, stride,
dilation, groups, precision, ...) and their readings.
"""
