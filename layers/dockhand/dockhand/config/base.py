"""What every model of the declaration file shares."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class FileModel(BaseModel):
    """A part of dockhand.yaml: unknown keys are errors, values are frozen once read. Validators and serializers are
    built when first used, not when the module is imported: a function that loads the validated form of the file
    (config.validated) never builds them."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, defer_build=True)
