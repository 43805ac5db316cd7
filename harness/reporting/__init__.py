"""What people read.

In: rows (`Record`s or a report CSV) and cases. Out: the CSV report and its summaries, coverage
of the mutation families, and `explain`'s hand computations and plots.
"""
