"""Reading the programme TOML named by `LOYALTY_PROGRAMME`."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from loyalty_kernel.programme.model import Programme


class ProgrammeFileError(ValueError):
    """The programme file is missing, not TOML, or breaks a rule."""


def load_programme(path: str | Path | None) -> Programme:
    """The programme from `path`, or the built-in default when no path is given."""
    if path is None or str(path) == "":
        return Programme()
    file = Path(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ProgrammeFileError(f"programme file {file} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProgrammeFileError(f"programme file {file} is not valid TOML: {exc}") from exc
    try:
        return Programme.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ProgrammeFileError(f"programme file {file} is invalid: {problems}") from exc
