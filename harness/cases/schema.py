"""The case file format: field checkers, the pydantic models and the JSON Schema.

Owns the case file contract of DESIGN.md at the level of one YAML document: which keys exist,
their types and forms (tensors are (N, C, *spatial) with 1 to 3 spatial axes, NCHW in 2-D;
weights (C_out, C_in/groups, *kernel); stride, dilation and padding an int or one value per axis,
padding also (before, after) per axis, 'same' or 'valid'), and the messages a bad value gets. The
rank of a case and the per-axis normalisation are harness.cases.case's.
It imports neither torch, scipy nor pandas.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
)

from harness.cases.causes import CAUSES
from harness.cases.layouts import LAYOUT_NAMES
from harness.cases.naming import (
    IMPLEMENTATION_NAMES,
    PLUGIN_FORMS,
    may_name_an_implementation,
    suggest,
)

ID_PATTERN = r"^[a-z0-9_]+$"


DTYPES = ("float64", "float32", "float16", "bfloat16", "complex64", "complex128")
COMPLEX_DTYPES = ("complex64", "complex128")
REAL_DTYPES = tuple(d for d in DTYPES if d not in COMPLEX_DTYPES)


PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


OPS = (
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)


INITS = ("normal", "uniform", "integers", "ones", "zeros", "arange", "impulse")


CASE_SUFFIXES = (".yaml", ".yml")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_axes(value: Any, what: str, minimum: int) -> int | tuple[int, ...]:
    """An int, or one int per spatial axis (1 to 3 of them); the case's rank is checked later."""
    if _is_int(value) and value >= minimum:
        return value
    if (
        isinstance(value, list)
        and 1 <= len(value) <= 3
        and all(_is_int(v) and v >= minimum for v in value)
    ):
        return tuple(value)
    kind = "a positive int" if minimum == 1 else "an int >= 0"
    plural = "positive ints" if minimum == 1 else "ints >= 0"
    raise ValueError(
        f"expected {kind} or one per spatial axis ([{what}L], [{what}H, {what}W] or "
        f"[{what}D, {what}H, {what}W]) of {plural}"
    )


def _check_stride(value: Any) -> int | tuple[int, ...]:
    return _check_axes(value, "s", 1)


def _check_dilation(value: Any) -> int | tuple[int, ...]:
    return _check_axes(value, "d", 1)


def _check_output_padding(value: Any) -> int | tuple[int, ...]:
    return _check_axes(value, "op", 0)


def _check_padding(value: Any) -> str | int | tuple[int, ...]:
    if isinstance(value, str) and value in ("same", "valid"):
        return value
    if _is_int(value) and value >= 0:
        return value
    if (
        isinstance(value, list)
        and 1 <= len(value) <= 6
        and all(_is_int(v) and v >= 0 for v in value)
    ):
        return tuple(value)
    raise ValueError(
        "expected an int >= 0, one per spatial axis ([pH, pW] in 2-D), (before, after) per axis "
        "([top, bottom, left, right] in 2-D), 'same' or 'valid'" + suggest(value, ["same", "valid"])
    )


def _check_choice(allowed: Sequence[str]):
    def check(value: Any) -> str:
        if isinstance(value, str) and value in allowed:
            return value
        raise ValueError("expected one of " + ", ".join(allowed) + suggest(value, allowed))

    return check


def _check_rejects(value: Any) -> bool | str:
    if isinstance(value, bool) or (isinstance(value, str) and value):
        return value
    raise ValueError("expected true/false or a substring of torch's error message")


def _check_implementation_name(value: Any) -> str:
    if may_name_an_implementation(value):
        return value
    raise ValueError(
        "not a known implementation"
        + suggest(value, IMPLEMENTATION_NAMES)
        + f"; known: {', '.join(IMPLEMENTATION_NAMES)}; or a plug-in as {PLUGIN_FORMS}"
    )


def _check_positive_int(value: Any) -> int:
    if _is_int(value) and value >= 1:
        return value
    raise ValueError("expected a positive int")


def complex_literal(text: str) -> complex:
    """A complex number written as a YAML string: "1+2j", "-0.5j", "3", "1.5e-3-2j"."""
    try:
        return complex(text.replace(" ", ""))
    except ValueError:
        raise ValueError(
            f"literal arrays hold numbers only, found {text!r} (write a complex number as a "
            f'string such as "1+2j" or "-0.5j")'
        ) from None


def literal_has_complex(value: Any) -> bool:
    """Whether a literal array holds any complex number (a string such as "1+2j")."""
    if isinstance(value, list):
        return any(literal_has_complex(item) for item in value)
    return isinstance(value, (str, complex))


def _check_size(value: Any) -> int:
    """A generated tensor's axis size: an int >= 0 here; harness.cases.rules refuses a 0 anywhere
    but the batch axis (N, axis 0) of the input and grad_output, with the reason."""
    if _is_int(value) and value >= 0:
        return value
    raise ValueError("expected a positive int")


def literal_shape(value: Any) -> tuple[int, ...]:
    """Shape of a nested list of numbers (complex ones as strings such as "1+2j"); ValueError if
    ragged, empty or non-numeric."""
    if isinstance(value, bool):
        raise ValueError(f"literal arrays hold numbers only, found {value!r}")
    if isinstance(value, str):
        complex_literal(value)
        return ()
    if isinstance(value, (int, float, complex)):
        return ()
    if not isinstance(value, list):
        raise ValueError(f"literal arrays hold numbers only, found {type(value).__name__}")
    if not value:
        raise ValueError("literal arrays must not be empty")
    shapes = {literal_shape(item) for item in value}
    if len(shapes) != 1:
        raise ValueError("ragged literal array: rows have different lengths")
    return (len(value), *shapes.pop())


def _check_literal(value: Any) -> list:
    shape = literal_shape(value)
    if len(shape) > 5:
        raise ValueError(f"literal arrays have at most 5 axes, found {len(shape)}")
    return value


def _axes_schema(minimum: int, most: int = 3) -> dict:
    return {
        "anyOf": [
            {"type": "integer", "minimum": minimum},
            {
                "type": "array",
                "items": {"type": "integer", "minimum": minimum},
                "minItems": 1,
                "maxItems": most,
            },
        ]
    }


_PADDING_SCHEMA = {"anyOf": [*_axes_schema(0, 6)["anyOf"], {"enum": ["same", "valid"]}]}


_LITERAL_SCHEMA = {
    "type": "array",
    "description": 'nested list of numbers (rank <= 5); complex numbers as strings such as "1+2j"',
}


Stride = Annotated[Any, BeforeValidator(_check_stride), WithJsonSchema(_axes_schema(1))]


Dilation = Annotated[Any, BeforeValidator(_check_dilation), WithJsonSchema(_axes_schema(1))]


Padding = Annotated[Any, BeforeValidator(_check_padding), WithJsonSchema(_PADDING_SCHEMA)]


OutputPadding = Annotated[
    Any, BeforeValidator(_check_output_padding), WithJsonSchema(_axes_schema(0))
]


Op = Annotated[Any, BeforeValidator(_check_choice(OPS)), WithJsonSchema({"enum": list(OPS)})]


PositiveInt = Annotated[
    Any, BeforeValidator(_check_positive_int), WithJsonSchema({"type": "integer", "minimum": 1})
]


Size = Annotated[
    Any,
    BeforeValidator(_check_size),
    WithJsonSchema({"type": "integer", "minimum": 0}),
]


# the batch axis may be 0 (an empty batch); every other axis needs at least 1 (the loader says
# why: weight axis 0 of a forward convolution is C_out, which torch refuses to be 0)
_SHAPE_SCHEMA = {
    "type": "array",
    "prefixItems": [{"type": "integer", "minimum": 0}],
    "items": {"type": "integer", "minimum": 1},
    "minItems": 1,
    "maxItems": 5,
    "description": "sizes (N, C, *spatial) for input and grad_output, N may be 0 (an empty "
    "batch); (C_out, C_in/groups, *kernel) for weight; (C_out,) for bias: all other sizes >= 1",
}


Dtype = Annotated[
    Any, BeforeValidator(_check_choice(DTYPES)), WithJsonSchema({"enum": list(DTYPES)})
]


PaddingMode = Annotated[
    Any,
    BeforeValidator(_check_choice(PADDING_MODES)),
    WithJsonSchema({"enum": list(PADDING_MODES)}),
]


LiteralArray = Annotated[Any, BeforeValidator(_check_literal), WithJsonSchema(_LITERAL_SCHEMA)]


Word = Annotated[str, Field(pattern=ID_PATTERN)]


Cause = Annotated[
    Any, BeforeValidator(_check_choice(tuple(CAUSES))), WithJsonSchema({"enum": list(CAUSES)})
]


ImplementationName = Annotated[str, BeforeValidator(_check_implementation_name)]


LayoutName = Annotated[
    Any,
    BeforeValidator(_check_choice(LAYOUT_NAMES)),
    WithJsonSchema({"enum": list(LAYOUT_NAMES)}),
]


class TensorSpec(BaseModel):
    """A generated tensor: `init` over `shape`, seeded (numpy Generator)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    shape: Annotated[list[Size], Field(min_length=1, max_length=5), WithJsonSchema(_SHAPE_SCHEMA)]
    init: Literal["normal", "uniform", "integers", "ones", "zeros", "arange", "impulse"]
    seed: int = 0
    low: float | None = None
    high: float | None = None
    std: Annotated[float, Field(gt=0)] | None = None
    at: list[int] | None = None


def _tensor_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return "spec"
    if isinstance(value, list):
        return "literal"
    return None


Tensor = Annotated[
    Annotated[TensorSpec, Tag("spec")] | Annotated[LiteralArray, Tag("literal")],
    Discriminator(
        _tensor_kind,
        custom_error_type="tensor_type",
        custom_error_message="expected a tensor spec {shape, init, ...} or a literal nested list",
    ),
]


class CaseFields(BaseModel):
    """The fields a case may set (also allowed in `defaults` and in a sweep's `base`)."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    tags: list[Word] = Field(default_factory=list)
    input: Tensor
    weight: Tensor
    bias: Tensor | None = None
    stride: Stride = 1
    padding: Padding = 0
    dilation: Dilation = 1
    groups: PositiveInt = 1
    padding_mode: PaddingMode = "zeros"
    dtype: Dtype = "float64"
    op: Op | None = Field(
        default=None,
        description="conv1d/conv2d/conv3d (cross-correlation; default: the rank of the input, "
        "(N, C, L), (N, C, H, W) or (N, C, D, H, W)) or conv_transpose1d/2d/3d (the transpose: a "
        "true convolution of the zero-upsampled input; weight (C_in, C_out/groups, *kernel))",
    )
    output_padding: OutputPadding = Field(
        default=0, description="transposed convolutions only: extra elements after the output"
    )
    grad_output: Tensor | None = Field(
        default=None,
        description="the gradient fed back for `run --backward` (default: drawn from the case)",
    )
    expected: LiteralArray | None = None
    rejects: Annotated[
        Any,
        BeforeValidator(_check_rejects),
        WithJsonSchema({"anyOf": [{"type": "boolean"}, {"type": "string", "minLength": 1}]}),
    ] = False
    diverges: dict[ImplementationName, Cause] = Field(
        default_factory=dict,
        description="implementations known to diverge on this case, with the expected cause "
        "(a documented semantic difference, e.g. scipy spreading NaN through dilation zeros)",
    )
    layouts: list[LayoutName] = Field(
        default_factory=list,
        description="memory layouts this case is run in for implementations that take torch "
        "tensors (harness.cases.layouts), in place of `run --layouts`; e.g. [channels_last]",
    )


class CaseModel(CaseFields):
    """One case: its fields plus a unique id."""

    id: Word


class SweepModel(BaseModel):
    """A sweep: `vary` expands over `base` into one case per combination."""

    model_config = ConfigDict(extra="forbid")

    id: Word
    description: str = ""
    tags: list[Word] = Field(default_factory=list)
    base: dict[str, Any]
    vary: dict[str, Annotated[list[Any], Field(min_length=1)]]


class CaseFileModel(BaseModel):
    """Top level of a case file (used for the JSON Schema; loading checks keys itself)."""

    model_config = ConfigDict(extra="forbid")

    defaults: dict[str, Any] | None = None
    cases: list[CaseModel] = Field(default_factory=list)
    sweeps: list[SweepModel] = Field(default_factory=list)


CASE_FIELD_NAMES = tuple(CaseFields.model_fields)


TENSOR_FIELDS = ("input", "weight", "bias", "grad_output")


def case_json_schema() -> dict:
    """JSON Schema (draft 2020-12) of a case file, for editors and external validators."""
    import copy

    schema = CaseFileModel.model_json_schema()
    definitions = schema["$defs"]
    case = definitions["CaseModel"]
    for name, default in (("stride", 1), ("padding", 0), ("dilation", 1)):
        case["properties"][name]["default"] = default
    fields = copy.deepcopy(case)
    fields["properties"].pop("id")
    fields.pop("required", None)
    fields["title"] = "CaseFields"
    fields["description"] = "Case fields, all optional (file defaults and a sweep's base)."
    definitions["CaseFields"] = fields
    schema["properties"]["defaults"] = {
        "anyOf": [{"$ref": "#/$defs/CaseFields"}, {"type": "null"}],
        "description": "Applied to every case (and sweep) in this file.",
    }
    sweep = definitions["SweepModel"]["properties"]
    sweep["base"] = {"$ref": "#/$defs/CaseFields"}
    sweep["vary"] = {
        "type": "object",
        "propertyNames": {"enum": [f for f in CASE_FIELD_NAMES if f != "expected"]},
        "additionalProperties": {"type": "array", "minItems": 1},
        "description": "One case per combination of these values (cartesian product).",
    }
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "conv-harness case file"
    return schema
