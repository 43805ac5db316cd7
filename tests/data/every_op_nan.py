"""Every operation of every rank (tests.data.every_operation): every result's first element NaN."""

from tests.data.every_operation import operations

globals().update(operations("nan"))
