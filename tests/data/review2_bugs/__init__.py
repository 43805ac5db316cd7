"""Second outside review: rank-1 and rank-3 gradients and transposed backward plug-ins, each
replaying one bug (or correct); tests/data/review2_cases has a case for each and
tests/test_review2_bugs.py checks what `run --backward` and `diagnose` name.

| module             | bug                                                        | expected    |
| ------------------ | ---------------------------------------------------------- | ----------- |
| c3d_gw_dil_d       | conv3d_backward (einsum windows), grad_weight dilation 1 on D | dilation |
| c1d_gi_group_mod   | conv1d_backward loops, grad_input o reads group o % groups | groups      |
| t3d_bw_gw_flip_h   | conv_transpose3d_backward, grad_weight flipped on H only   | kernel_flip |
| c1d_gi_drop_last   | conv1d_backward, grad_input drops last channel per group   | depth_sum * |
| t1d_bw_gi_stride   | conv_transpose1d_backward (nn.grad), grad_input stride 1   | stride      |
| c3d_gb_one_image   | conv3d_backward, grad_bias sums image 0 only               | bias        |
| t3d_no_bias        | conv_transpose3d (torch) with the bias dropped             | bias        |
| t1d_bw_complex_jax | conv_transpose1d_backward via jax.vjp (no conjugation)     | conjugation |
| c3d_gi_pad_side_w  | conv3d_backward, grad_input cropped at the wrong side of W | padding     |
| c1d_gw_no_stride   | conv1d_backward numpy, grad_weight windows at stride 1 steps| stride     |
| t3d_bw_gi_dil_w    | conv_transpose3d_backward, grad_input dilation 1 on W only | dilation    |
| ok1d_jax           | correct conv1d/conv_transpose1d (+backward) via jax.vjp, conj | (matches) |
| ok3d_adjoint       | correct conv3d/conv_transpose3d (+backward) by nn.grad adjoints | (matches) |

* first guessed `groups`; the harness says `depth_sum`, and that is the better name: a grad_input
  zero on one channel is the adjoint of a forward whose depth sum skips that channel.

The cases r2_cx_c1d_stride3 and r2_cx_t1d_stride3 are diagnose's own counterexamples for
c1d_gw_no_stride and t1d_bw_gi_stride: at stride 3 both run and diagnose say `unknown`.
The plug-in contract has no padding_mode, so "reflect padding folded back as zeros" cannot be
written as a plug-in of this contract and is not among these.
"""
