"""Reading the programme named by `LOYALTY_PROGRAMME`: one TOML file, or a folder of
versions (docs/contracts/programme.md, "Versions")."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, TypeAdapter, ValidationError

from loyalty_kernel.programme.model import Programme, ProgrammeVersion

# What a version may change; everything else must be the same in every version, so
# the tiers, the lifecycle and the churn watch mean one thing over the whole history.
_VERSIONED = {"name", "version", "effective_from", "earning", "history"}


_MOMENT = TypeAdapter(AwareDatetime)


class ProgrammeFileError(ValueError):
    """The programme file is missing, not TOML, or breaks a rule."""


def load_programme(path: str | Path | None) -> Programme:
    """The programme at `path` (a file, or a folder of version files), or the built-in
    default when no path is given."""
    if path is None or str(path) == "":
        return Programme()
    place = Path(path)
    if place.is_dir():
        return _versions(place)
    return _one(place)


def _one(file: Path) -> Programme:
    return _validate(file, _read(file))


def _read(file: Path) -> dict[str, Any]:
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ProgrammeFileError(f"programme file {file} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProgrammeFileError(f"programme file {file} is not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ProgrammeFileError(f"programme file {file} is not UTF-8 text") from exc
    if "history" in raw:
        raise ProgrammeFileError(f"programme file {file} is invalid: history: not a setting")
    return raw


def _validate(file: Path, raw: Mapping[str, Any]) -> Programme:
    try:
        return Programme.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_problem(err, raw) for err in exc.errors())
        raise ProgrammeFileError(f"programme file {file} is invalid: {problems}") from exc


def _problem(err: Mapping[str, Any], raw: Mapping[str, Any]) -> str:
    """One validation error as `where: what`, a rule named by its id as well as its
    place, e.g. `earning.rules[2] (rule "thanksgiving-meat").until: ...`."""
    loc = [str(p) for p in err["loc"]]
    where = ".".join(loc)
    if loc[:2] == ["earning", "rules"] and len(loc) > 2 and loc[2].isdigit():
        index = int(loc[2])
        rules = raw.get("earning", {}).get("rules", [])
        rule_id = (
            rules[index].get("id")
            if index < len(rules) and isinstance(rules[index], dict)
            else None
        )
        named = f' (rule "{rule_id}")' if rule_id else ""
        field = ".".join(p for p in loc[3:] if p not in ("line", "purchase"))
        where = f"earning.rules[{index}]{named}" + (f".{field}" if field else "")
    return f"{where}: {err['msg']}"


def _versions(folder: Path) -> Programme:
    """Every version file in the folder. The earliest holds the whole programme; a later
    one needs only `version`, `effective_from` and `[earning]` (a section it repeats
    must be the same)."""
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise ProgrammeFileError(f"programme folder {folder} holds no .toml version files")
    raws = {f: _read(f) for f in files}
    first_file = _earliest(raws)
    frame = {k: v for k, v in raws[first_file].items() if k not in _VERSIONED}
    loaded = [(f, _validate(f, {**frame, **raw})) for f, raw in raws.items()]
    first = next(p for f, p in loaded if f == first_file)
    _same_frame(first_file, first, loaded)
    _distinct(folder, loaded)
    versions = sorted(
        (ProgrammeVersion(version=p.version, effective_from=p.effective_from, earning=p.earning)
         for _, p in loaded),
        key=lambda v: (v.effective_from is not None, v.effective_from),
    )  # fmt: skip
    return first.model_copy(update={"history": tuple(versions)})


def _earliest(raws: Mapping[Path, Mapping[str, Any]]) -> Path:
    undated = [f for f, raw in raws.items() if "effective_from" not in raw]
    if len(undated) > 1:
        names = ", ".join(f.name for f in undated)
        raise ProgrammeFileError(
            f"programme versions {names} have no effective_from: only the first version may "
            "go without one"
        )
    if undated:
        return undated[0]
    starts = {}
    for file, raw in raws.items():
        try:
            starts[file] = _MOMENT.validate_python(raw["effective_from"])
        except ValidationError as exc:
            problem = exc.errors()[0]["msg"]
            raise ProgrammeFileError(
                f"programme file {file} is invalid: effective_from: {problem}"
            ) from exc
    return min(starts, key=starts.__getitem__)


def _same_frame(
    first_file: Path, first: Programme, loaded: Sequence[tuple[Path, Programme]]
) -> None:
    frame = first.model_dump(exclude=_VERSIONED)
    for file, programme in loaded:
        other = programme.model_dump(exclude=_VERSIONED)
        differing = sorted(k for k in frame if frame[k] != other[k])
        if differing:
            raise ProgrammeFileError(
                f"programme version {file} differs from {first_file.name} in "
                f"{', '.join(differing)}: only [earning] may change from one version to the next"
            )


def _distinct(folder: Path, loaded: Sequence[tuple[Path, Programme]]) -> None:
    for attribute in ("version", "effective_from"):
        seen: dict[object, Path] = {}
        for file, programme in loaded:
            value = getattr(programme, attribute)
            if value in seen:
                raise ProgrammeFileError(
                    f"programme versions {seen[value].name} and {file.name} in {folder} have "
                    f"the same {attribute} ({value}): each version needs its own"
                )
            seen[value] = file
