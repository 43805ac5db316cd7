"""A module whose only operation is a conv_transpose2d_backward in JAX's complex convention
(grad_input = sum g*w, not g*conj(w)): right on real data, `conjugation` on complex data."""

from tests.data.transposed_backward_loops import plain_products_backward

conv_transpose2d_backward = plain_products_backward
