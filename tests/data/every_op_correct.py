"""Every operation of every rank (tests.data.every_operation): correct."""

from tests.data.every_operation import operations

globals().update(operations("correct"))
