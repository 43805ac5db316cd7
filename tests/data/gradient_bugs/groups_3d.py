"""groups bugs, rank 3. conv3d_backward (tap loops): grad_input sums, for group g, the output
channels g, g + groups, ... conv_transpose3d (tap loops): output channels interleaved over the
groups. conv_transpose3d_backward (torch.autograd through F.conv_transpose3d whose output
channels are regrouped as (C_out/groups, groups)): grad_input and grad_weight pair the wrong
groups; grad_bias is right."""

from tests.data.gradient_bugs._taps import Planted, conv_backward, conv_transpose
from tests.data.gradient_bugs._torch_styles import autograd_transpose_backward, bind

conv3d_backward = bind("conv3d_backward", conv_backward, planted_gi=Planted(interleave_small=True))
conv_transpose3d = bind("conv_transpose3d", conv_transpose, planted=Planted(interleave_small=True))
conv_transpose3d_backward = bind(
    "conv_transpose3d_backward", autograd_transpose_backward, outputs_interleaved=True
)
