"""The `nbo` command: mounts each package's sub-commands and the few that belong to no package."""

from __future__ import annotations

from typing import Any

import click

from features.cli import features_group
from features.segments.cli import segments_group
from identity.assemble_cli import assemble_command
from identity.cli import identity_group
from identity.decisions_cli import merge_command, split_command
from nbo import __version__
from nbo.console import configure_logging, emit, handles_errors, json_option
from nbo.settings import config_file, load_settings
from serving.campaigns.cli import campaigns_group
from serving.cli import report_group, serve
from serving.leads.cli import leads_group
from serving.monitoring.cli import monitor_group
from serving.nps.cli import nps_group
from serving.payments.labels_cli import payments_group
from serving.security import keys as api_keys
from serving.security.keys_cli import keys_group
from serving.triggers.cli import triggers_group
from serving.triggers.events_cli import events_group
from sources.cli import data_group
from training.cli import evaluate, promote, retrain_command, score, train
from training.history_cli import models_group
from training.mlflow_ui import mlflow_ui


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nbo")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
              help="Least severe log record shown on stderr (progress counts as INFO; third-party chatter "
                   "and deprecation warnings as DEBUG).")
@click.option("--log-format", default="auto", show_default=True, type=click.Choice(["auto", "text", "json"]),
              help="stderr as readable lines with progress bars (text) or one JSON object per line (json); "
                   "auto: text on a terminal, json otherwise.")
def main(log_level: str, log_format: str) -> None:
    """nbo: next-best-offer and customer-risk service for retail banks.

    Settings come from NBO_* environment variables and the TOML file NBO_CONFIG names
    (see `nbo info`; config/scale.toml switches every store to Redis and PostgreSQL).
    """
    configure_logging(log_level.upper(), log_format)


@main.command("info")
@json_option
@handles_errors
def info(as_json: bool) -> None:
    """Where things are: data, feature repo, MLflow, the service and (in demo mode) demo API keys."""
    s = load_settings()
    result = {
        "data_dir": s.data_dir.resolve(),
        "state_dir": s.state_dir.resolve(),
        "feature_repo": s.feature_repo.resolve(),
        "config_file": config.resolve() if (config := config_file()) else None,
        "store_profile": s.stores.profile,
        "mlflow_tracking_uri": s.mlflow.tracking_uri,
        "service_url": s.service.url,
        "api_keys_file": s.api_keys_file.resolve(),
        "demo_api_keys": api_keys.read_demo_keys(s.demo_keys_file, api_keys.load_key_hashes(s.api_keys_file)),
    }
    emit(result, as_json, _info_text)


def _info_text(r: dict[str, Any]) -> str:
    lines = [f"{k:<20} {v}" for k, v in r.items() if k != "demo_api_keys"]
    if r["demo_api_keys"]:
        lines.append("demo API keys (send as X-API-Key):")
        lines += [f"  {role:<8} {key}" for role, key in r["demo_api_keys"].items()]
    return "\n".join(lines)


@main.group("stores")
def stores_group() -> None:
    """The stores the settings name (NBO_CONFIG=config/scale.toml switches them all)."""


@stores_group.command("init")
@json_option
@handles_errors
def stores_init(as_json: bool) -> None:
    """Create the PostgreSQL databases the settings use (Feast registry, audit, MLflow) if missing."""
    from nbo.databases import ensure_databases

    rows = ensure_databases(load_settings())
    emit({"databases": rows}, as_json, lambda r: "\n".join(
        f"{d['use']:<15} {d['database']:<20} {'created' if d['created'] else 'exists'}" for d in r["databases"])
        or "no PostgreSQL store in these settings")


main.add_command(data_group)
main.add_command(identity_group)
identity_group.add_command(merge_command)
identity_group.add_command(split_command)
data_group.add_command(assemble_command)
main.add_command(serve)
main.add_command(keys_group)
main.add_command(report_group)
main.add_command(monitor_group)
main.add_command(payments_group)
main.add_command(features_group)
main.add_command(segments_group)
main.add_command(triggers_group)
main.add_command(campaigns_group)
main.add_command(nps_group)
main.add_command(leads_group)
main.add_command(events_group)
main.add_command(train)
main.add_command(evaluate)
main.add_command(promote)
main.add_command(retrain_command)
main.add_command(score)
main.add_command(mlflow_ui)
main.add_command(models_group)
