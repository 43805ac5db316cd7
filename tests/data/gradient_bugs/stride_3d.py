"""stride bugs, rank 3. conv3d_backward (tap loops): grad_input's zeros inserted one position
late along D (the one strided axis of its case). conv_transpose3d (tap loops): outputs
scattered to i*s + 1 along W. conv_transpose3d_backward (tap loops): grad_input samples
grad_output with a step one larger along W."""

from tests.data.gradient_bugs._taps import (
    Planted,
    conv_backward,
    conv_transpose,
    conv_transpose_backward,
)
from tests.data.gradient_bugs._torch_styles import bind

conv3d_backward = bind("conv3d_backward", conv_backward, planted_gi=Planted(offset={0: 1}))
conv_transpose3d = bind("conv_transpose3d", conv_transpose, planted=Planted(offset={2: 1}))
conv_transpose3d_backward = bind(
    "conv_transpose3d_backward", conv_transpose_backward, planted_gi=Planted(stride_delta={2: 1})
)
