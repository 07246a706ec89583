"""The one exception hierarchy. Each error knows its HTTP status and its CLI exit code."""

from __future__ import annotations

from typing import ClassVar


class NboError(Exception):
    """Base of every error nbo raises on purpose."""

    status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1


class NotFound(NboError):
    """Something asked for does not exist."""

    status = 404
    exit_code = 3


class CustomerNotFound(NotFound):
    """No customer with this id in the online store."""


class FeatureServiceNotFound(NotFound):
    """No Feast feature service with this name in the registry."""


class InputFileError(NboError):
    """An input file is missing, unreadable or not in the expected format."""

    status = 422
    exit_code = 3


class ContractViolation(NboError):
    """Data breaks the canonical contract; carries every violation found."""

    status = 422
    exit_code = 2

    def __init__(self, message: str, violations: list[dict[str, object]] | None = None):
        super().__init__(message)
        self.violations = violations or []


class Conflict(NboError):
    """The request contradicts what is stored (e.g. an event id already logged with other content)."""

    status = 409
    exit_code = 2


class ConfigError(NboError):
    """The settings (NBO_* variables or the NBO_CONFIG file) are missing or invalid."""

    status = 500
    exit_code = 2


class Forbidden(NboError):
    """The caller's role may not do this."""

    status = 403
    exit_code = 4


class ModelUnavailable(NboError):
    """A model or store needed for the answer is not loaded."""

    status = 503
    exit_code = 5


class ModelNotFound(NotFound, ModelUnavailable):
    """No run or model version with this reference in the MLflow registry (a missing model: exit 5)."""

    status = 404
    exit_code = 5


class PortUnavailable(NboError):
    """The address `nbo serve` should listen on is taken or not this machine's."""

    exit_code = 5
