"""conv_transpose1d/2d/3d that scatter with the kernel reversed along every axis (a correlation
where the transposed convolution is a true convolution): `kernel_flip` at every rank."""

from tests.data.transposed_scatter import scatter


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):  # fmt: skip
    return scatter(input, weight, bias, stride, padding, output_padding, groups, dilation, True)


conv_transpose2d = conv_transpose3d = conv_transpose1d
