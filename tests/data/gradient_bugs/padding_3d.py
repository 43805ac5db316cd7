"""padding bugs, rank 3. conv3d_backward (tap loops): grad_weight with H's padding taken after
the input. conv_transpose3d (tap loops): D's padding cropped at the end instead of both sides.
conv_transpose3d_backward (tap loops): grad_input reads grad_output as if output_padding's
extra plane along W came first."""

from tests.data.gradient_bugs._taps import (
    Planted,
    conv_backward,
    conv_transpose,
    conv_transpose_backward,
)
from tests.data.gradient_bugs._torch_styles import bind

conv3d_backward = bind("conv3d_backward", conv_backward, planted_gw=Planted(padding_after=(1,)))
conv_transpose3d = bind("conv_transpose3d", conv_transpose, planted=Planted(padding_after=(0,)))
conv_transpose3d_backward = bind(
    "conv_transpose3d_backward",
    conv_transpose_backward,
    planted_gi=Planted(output_padding_first=(2,)),
)
