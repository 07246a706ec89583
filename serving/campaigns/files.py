"""Campaign files (`config/campaigns/*.toml`): read, checked against the bank, every error naming
the file and the field."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path

from nbo.errors import ContractViolation, InputFileError
from serving.campaigns.checks import BankTerms, checked_spec
from serving.campaigns.spec import CampaignSpec


def read_campaign_file(path: Path, terms: BankTerms) -> CampaignSpec:
    """One campaign file, checked (InputFileError when unreadable, ContractViolation when invalid)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputFileError(f"{path}: cannot read campaign file: {err.strerror or err}") from err
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ContractViolation(f"{path}: not valid TOML: {err}",
                                [{"field": "file", "message": str(err)}]) from err
    return checked_spec(raw, terms, str(path))


def read_campaign_files(paths: Sequence[Path], terms: BankTerms) -> list[CampaignSpec]:
    """Every file, checked before any is used; two files with one campaign id are refused."""
    specs = [read_campaign_file(p, terms) for p in paths]
    seen: dict[str, Path] = {}
    for path, spec in zip(paths, specs, strict=True):
        if spec.id in seen:
            raise ContractViolation(f"{path}: id: campaign {spec.id!r} is also defined in {seen[spec.id]}",
                                    [{"field": "id", "message": f"defined twice ({seen[spec.id]}, {path})"}])
        seen[spec.id] = path
    return specs
