"""Every operation of every rank (tests.data.every_operation): every result one element short."""

from tests.data.every_operation import operations

globals().update(operations("wrong_shape"))
