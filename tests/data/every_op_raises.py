"""Every operation of every rank (tests.data.every_operation): raising RuntimeError."""

from tests.data.every_operation import operations

globals().update(operations("raises"))
