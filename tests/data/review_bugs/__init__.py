"""Review plug-ins: each module replays one convolution bug (or is correct), for gradients and
transposed convolutions; tests/data/review_cases has a case for each, tests/test_review_bugs.py
checks what `run --backward` and `diagnose` name.

| module               | bug                                                | expected    |
| -------------------- | -------------------------------------------------- | ----------- |
| t2d_no_dilation      | conv_transpose2d drops dilation (torch, dilation=1) | dilation    |
| t1d_outpad_ignored   | conv_transpose1d loops ignore output_padding       | padding     |
| t1d_outpad_before    | conv_transpose1d (numpy FFT), output_padding first | padding     |
| t2d_group_axes       | conv_transpose2d group weight in/out axes swapped  | groups      |
| t3d_pad_start        | conv_transpose3d cropped by padding at start only  | padding     |
| bw_gw_first_image    | conv2d_backward (im2col), grad_weight image 0 only | depth_sum   |
| bw3d_no_flip         | conv3d_backward (scipy), grad_input not flipped    | kernel_flip |
| bw_stride_phase_h    | conv2d_backward, stride zeros one late on H only   | stride      |
| bw_bias_mean         | conv2d autograd.Function, grad_bias averaged       | bias        |
| bw_depthwise_mod     | conv2d_backward loops, o reads group o % groups    | groups      |
| bw_complex_jax       | conv2d_backward via jax.vjp (no conjugation)       | conjugation |
| bw_fp16_accum        | conv1d_backward accumulating in float16            | precision   |
| ok_transposed_einsum | correct conv_transpose1d/2d/3d, einsum per tap     | (matches)   |
| ok_backward_swap     | correct conv2d_backward, batch/channel swap trick  | (matches)   |
"""
