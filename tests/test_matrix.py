"""The registry matrix: one test per (case, implementation, variant), parametrised by the plugin."""

from harness.pytest_plugin import check_row


def test_matrix(matrix_row, matrix_state):
    case, implementation, variant = matrix_row
    check_row(matrix_state, case, implementation, variant)
