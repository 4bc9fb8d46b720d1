"""Building blocks of the check types' parameter models (each lives in ``checks/<type>.py``).

Nothing here imports a driver: loading the schema must not pull in redis, neo4j or psycopg.

Secret naming rule (the operator maps a CRD ``xFrom: {secretKeyRef}`` to ``xFile`` or
``xFromEnv``): a secret-bearing field ``x`` has the alternatives ``xFromEnv`` (name of an
environment variable) and ``xFile`` (path of a file), and may also be given inline as ``x``. A
model declares its secrets as data, :attr:`Model.secret_fields`; from that one declaration come
the "at most one / exactly one of" validation here and the CRD's ``xFrom`` fields and rules in the
operator. A model whose ``*_from_env`` fields and declaration disagree fails at import.

The check types take their pydantic names from here, not from pydantic: in a serving process
(:func:`stubs.prefer`) they are :mod:`stubs`' stand-ins, and pydantic is never loaded there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from healthgate_sidecar import stubs

# mypy reads the first branch only: the models are type-checked as the pydantic models they are.
if TYPE_CHECKING or not stubs.wanted():
    from pydantic import (
        AfterValidator,
        BaseModel,
        ConfigDict,
        Field,
        field_validator,
        model_validator,
    )
    from pydantic.alias_generators import to_camel
    from pydantic_core import PydanticCustomError

    PYDANTIC = True
else:
    from healthgate_sidecar.stubs import (
        AfterValidator,
        BaseModel,
        ConfigDict,
        Field,
        PydanticCustomError,
        field_validator,
        model_validator,
        to_camel,
    )

    PYDANTIC = False

__all__ = [
    "ENV_NAME_PATTERN",
    "PYDANTIC",
    "AfterValidator",
    "BaseModel",
    "ConfigDict",
    "Field",
    "Model",
    "Secret",
    "TlsMixin",
    "env_field",
    "field_error",
    "field_validator",
    "file_field",
    "model_validator",
    "require_one",
]

ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
ENV_SUFFIX = "_from_env"
FILE_SUFFIX = "_file"


@dataclass(frozen=True)
class Secret:
    """A secret-bearing field of a model: ``name`` (snake_case) and whether a value is required.

    The model has the fields ``{name}_from_env`` and ``{name}_file``, and ``{name}`` itself when
    the value may also be written inline (a URL whose password is optional, a header value).
    """

    name: str
    required: bool = False

    @property
    def alias(self) -> str:
        """The camelCase name of the config file and the CRD (``api_key`` -> ``apiKey``)."""
        return to_camel(self.name)

    def sources(self, model: type[BaseModel]) -> list[str]:
        """The model's fields that may hold this secret, the inline one first."""
        inline = [self.name] if self.name in model.model_fields else []
        return [*inline, self.name + ENV_SUFFIX, self.name + FILE_SUFFIX]


class Model(BaseModel):
    """Base of every contract model: camelCase keys, unknown keys rejected, immutable."""

    # frozen: a reload compares old and new dependencies with ``==`` to keep unchanged state.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )
    # The model's secret-bearing fields, in declaration order (see the module docstring).
    secret_fields: ClassVar[tuple[Secret, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        declared = {secret.name for secret in cls.secret_fields}
        by_rule = {f.removesuffix(ENV_SUFFIX) for f in cls.model_fields if f.endswith(ENV_SUFFIX)}
        missing = [s + FILE_SUFFIX for s in declared if s + FILE_SUFFIX not in cls.model_fields]
        if declared != by_rule or missing:
            raise TypeError(
                f"{cls.__name__}: secret_fields {sorted(declared)} must name exactly the fields "
                f"with {ENV_SUFFIX} ({sorted(by_rule)}), each with its {FILE_SUFFIX} field"
            )

    @model_validator(mode="after")
    def _one_source_per_secret(self) -> Any:
        for secret in self.secret_fields:
            require_one(self, secret.sources(type(self)), required=secret.required)
        return self


def field_error(field: str, message: str) -> PydanticCustomError:
    """An error that names the offending sub-field (``ctx.field``), for precise paths."""
    return PydanticCustomError("healthgate", "{message}", {"field": field, "message": message})


def require_one(model: BaseModel, fields: list[str], *, required: bool) -> None:
    """Enforce "exactly one of" (``required``) or "at most one of" a secret's alternatives."""
    given = [f for f in fields if getattr(model, f) is not None]
    aliases = [to_camel(f) for f in fields]
    if len(given) > 1:
        raise field_error(to_camel(given[1]), f"only one of {', '.join(aliases)} may be set")
    if required and not given:
        raise field_error(aliases[0], f"one of {', '.join(aliases)} is required")


def env_field(description: str) -> Any:
    """An ``xFromEnv`` field: the name of an environment variable."""
    return Field(None, pattern=ENV_NAME_PATTERN, description=description)


def file_field(description: str) -> Any:
    """An ``xFile`` field: the path of a file."""
    return Field(None, min_length=1, description=description)


class TlsMixin(Model):
    """TLS settings shared by the types that speak TLS."""

    ca_file: str | None = Field(
        None, min_length=1, description="PEM file of CA certificates trusted for the server."
    )
    tls_verify: bool = Field(
        True, description="Verify the server certificate and name. Turn off only for tests."
    )
