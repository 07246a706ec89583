"""`nbo train | evaluate | promote | retrain | score`: the data scientist's and risk team's commands.

MLflow, LightGBM and Feast take seconds to import, so each command imports what it needs when it
runs: `nbo --help` and the other command groups stay fast.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from nbo.console import (
    captured_output,
    emit,
    handles_errors,
    json_option,
    lang_option,
    progress_bar,
    steps,
)
from nbo.settings import load_settings
from training import TRAINING_STEPS

if TYPE_CHECKING:
    from training.risk.fit import TrainingEngine, TreeSettings
    from training.tuning import TuningBudget

log = logging.getLogger(__name__)

RISK_KINDS = ("churn", "delinquency")  # their registered names: models.registry.RISK_MODEL_NAMES
# models.registry.ALIASES (what the service serves) and "shadow", the stage before challenger
PROMOTION_ALIASES = ("champion", "challenger", "shadow")

KINDS = click.Choice(RISK_KINDS)
# What a training run `stage`s: "loading libraries" here (MLflow, LightGBM and Feast take seconds to
# import), the others in fit_candidate and log_candidate (fit_recommender and train_recommender).
data_option = click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
                           help="Canonical data directory (default: NBO_DATA_DIR).")
fast_option = click.option("--fast", is_flag=True,
                           help="Small models for smoke tests and CI: few trees, stopped early.")
trees_option = click.option("--trees", type=click.IntRange(min=1), help="Maximum number of trees.")
leaves_option = click.option("--leaves", type=click.IntRange(min=2), help="Leaves per tree.")


def tree_settings(fast: bool, trees: int | None, leaves: int | None) -> TreeSettings:
    """The LightGBM settings a command asked for."""
    from training.risk.fit import TreeSettings

    base = TreeSettings.fast() if fast else TreeSettings()
    return base.with_overrides(max_trees=trees, num_leaves=leaves)


# Optuna trials of a churn or delinquency run unless --tune-trials says otherwise (none with --fast,
# --engine dask or trees set by hand). README "Tuning" has what this costs.
DEFAULT_TUNE_TRIALS = 20


def tuning_budget(fast: bool, engine: str, by_hand: bool, trials: int | None, seconds: float | None
                  ) -> TuningBudget:
    """The tuning a command asked for: `trials`, else the default (none with --fast, on Dask, or
    when `by_hand` the trees were set with --trees or --leaves)."""
    from training.tuning import TuningBudget

    if trials is None:
        trials = 0 if fast or engine == "dask" or by_hand else DEFAULT_TUNE_TRIALS
    if trials and engine == "dask":
        raise click.UsageError("tuning runs on this machine: --engine dask takes --tune-trials 0")
    return TuningBudget(trials, seconds)


@contextmanager
def training_engine(engine: str, dask_scheduler: str | None) -> Iterator[TrainingEngine]:
    """The engine a command asked for; a Dask client (and local cluster) lives as long as the block."""
    if engine == "local":
        from training.risk.fit import LOCAL_ENGINE

        yield LOCAL_ENGINE
        return
    from training.risk.dask_fit import dask_client, dask_engine

    with dask_client(dask_scheduler) as client:
        yield dask_engine(client)


@click.command("train")
@click.argument("model", type=click.Choice([*RISK_KINDS, "recommender", "fraud"]))
@data_option
@click.option("--force", is_flag=True, help="Promote to champion even if not better (recorded on the run).")
@click.option("--rebuild-features", is_flag=True, help="Rebuild the feature tables even if up to date.")
@fast_option
@trees_option
@leaves_option
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="Where churn and delinquency train: this process, or a Dask cluster (lightgbm.dask).")
@click.option("--dask-scheduler", metavar="ADDRESS",
              help="Dask scheduler for --engine dask (tcp://host:8786); default: a local cluster "
                   "of 2 single-thread workers.")
@click.option("--sample-customers", type=click.IntRange(min=100), metavar="N",
              help="Churn and delinquency: train on the label rows of N customers drawn at random (seeded), "
                   "for a bank too large to join whole in memory; the run records it.")
@click.option("--portfolio", metavar="NAME",
              help="Churn and delinquency: the portfolio the data belongs to, when its source.json names none "
                   "(default: source.json's, else demo); a different one than source.json names is refused.")
@click.option("--tune-trials", type=click.IntRange(min=0), metavar="N",
              help=f"Churn and delinquency: Optuna trials tuning LightGBM within the training data (nested in "
                   f"each CV fold); 0 disables [default: {DEFAULT_TUNE_TRIALS}; 0 with --fast, --engine dask, "
                   f"--trees or --leaves].")
@click.option("--tune-seconds", type=click.FloatRange(min=1), metavar="S",
              help="Churn and delinquency: stop each tuning after S seconds (between trials) even if trials remain.")
@click.option("--labels", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.parquet",
              help="Fraud: labelled served payments (`nbo payments labels`) added to the training months.")
@click.option("--truth", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.parquet",
              help="Fraud: the fraud truth labelling DATA's payments (default: DATA/truth/fraud.parquet; "
                   "the demo's is data/bank/truth/fraud.parquet).")
@json_option
@handles_errors
def train(model: str, data_dir: Path | None, force: bool, rebuild_features: bool, fast: bool,
          trees: int | None, leaves: int | None, engine: str, dask_scheduler: str | None,
          sample_customers: int | None, portfolio: str | None, tune_trials: int | None,
          tune_seconds: float | None, labels: Path | None, truth: Path | None, as_json: bool) -> None:
    """Train a model (churn, delinquency, recommender or fraud), log it to MLflow, promote it if it beats the champion.

    The metrics printed are the test-period figures (a time split; a stated stratified split for
    single-snapshot data). `recommender` trains the hybrid recommender beside its baselines (a
    hide-one evaluation when DATA is a single holdings snapshot). A model belongs to its data's
    portfolio and is only ever compared with, and promoted over, that portfolio's champion.
    """
    if engine != "dask" and dask_scheduler:
        raise click.UsageError("--dask-scheduler needs --engine dask")
    if (labels is not None or truth is not None) and model != "fraud":
        raise click.UsageError("--labels and --truth are for fraud")
    if model == "fraud":
        if engine == "dask" or sample_customers or portfolio or tune_trials is not None or tune_seconds is not None:
            raise click.UsageError("fraud trains locally on its data's portfolio: --engine dask, --sample-customers, "
                                   "--portfolio, --tune-trials and --tune-seconds are for churn and delinquency")
        from training.fraud.cli import run_train_fraud

        run_train_fraud(data_dir, force, fast, trees, leaves, labels, truth, as_json)
        return
    if model == "recommender" and engine == "dask":
        raise click.UsageError("--engine dask trains churn and delinquency; the recommender trains locally")
    if model == "recommender" and sample_customers:
        raise click.UsageError("--sample-customers is for churn and delinquency")
    if model == "recommender" and portfolio:
        raise click.UsageError("--portfolio is for churn and delinquency; the recommender takes its data's portfolio")
    if model == "recommender" and (tune_trials is not None or tune_seconds is not None):
        raise click.UsageError("--tune-trials and --tune-seconds are for churn and delinquency")
    if model == "recommender":
        from training.recommender.cli import run_train_recommender

        run_train_recommender(data_dir, force, rebuild_features, fast, trees, leaves, as_json)
        return
    if tune_trials and leaves is not None:
        raise click.UsageError("--leaves fixes what --tune-trials searches: give one of them")
    budget = tuning_budget(fast, engine, trees is not None or leaves is not None, tune_trials, tune_seconds)
    from sources.portfolio import training_portfolio

    settings = load_settings()
    data = data_dir or settings.data_dir
    owner = training_portfolio(data, portfolio)  # a conflicting --portfolio fails before anything loads
    log.info("training", extra={"model": model, "data": str(data), "portfolio": owner, "engine": engine})
    with steps(f"training {model}", TRAINING_STEPS), captured_output():
        from training.risk.pipeline import fit_candidate, log_candidate

        with training_engine(engine, dask_scheduler) as chosen:
            candidate = fit_candidate(settings, model, data, tree_settings(fast, trees, leaves), rebuild_features,
                                      chosen, sample_customers, owner, budget)
        result = log_candidate(settings, candidate, data, force)
    emit(result, as_json, _train_text)


def _train_text(r: dict[str, Any]) -> str:
    metrics = "  ".join(f"{k}={v:.4f}" for k, v in r["metrics"].items() if k not in ("rows", "positive_rate"))
    state = "promoted to champion" + (" (forced)" if r["forced"] else "") if r["promoted"] else "not promoted"
    lines = [f"{r['model']} version {r['model_version']} (run {r['run_id']}, portfolio {r['portfolio']}): {state}",
             f"  test: {metrics}"]
    if r["cv_metrics"]:
        cv = r["cv_metrics"]
        lines.append(f"  5-fold CV: roc_auc={cv['roc_auc']:.4f} ± {cv['roc_auc_std']:.4f}  brier={cv['brier']:.4f}")
    if r["tuning"]:
        run = r["tuning"]["run"]
        best = "  ".join(f"{k}={v:.3g}" for k, v in run["params"].items())
        lines.append(f"  tuned ({run['trials']} trials, inner ROC AUC {run['inner_roc_auc']:.4f}): {best}")
    return "\n".join([*lines, f"  {r['promotion']['reason']}"])


@click.command("evaluate")
@click.argument("ref", metavar="RUN_OR_MODEL")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Report directory (default: <state_dir>/reports/<model>-v<version>).")
@json_option
@handles_errors
def evaluate(ref: str, out: Path | None, as_json: bool) -> None:
    """Measure a model version on its test holdout beside the champion, and write an HTML report.

    RUN_OR_MODEL is a run id, NAME@ALIAS (nbo-churn@champion), NAME/VERSION or a models:/ URI.
    """
    from models.registry import RECOMMENDER, split_name
    from training import registry
    from training.recommender.review import evaluate_recommender
    from training.risk.review import evaluate_version

    settings = load_settings()
    name = registry.resolve_version(registry.connect(settings.mlflow), ref).name
    is_recommender = split_name(name)[0] == RECOMMENDER
    result = (evaluate_recommender if is_recommender else evaluate_version)(settings, ref, out)
    emit(result, as_json, _evaluate_text)


def _evaluate_text(r: dict[str, Any]) -> str:
    lines = [f"{r['model']} v{r['model_version']} on its holdout:"]
    lines += [f"  {k:<18} {v:.4f}" for k, v in r["metrics"].items()]
    if r["champion_metrics"]:
        lines.append(f"champion v{r['champion_version']} on the same holdout:")
        lines += [f"  {k:<18} {v:.4f}" for k, v in r["champion_metrics"].items()]
    if r.get("bands"):
        for label, key in ((r["bands"]["version"], "holdout"), ("risk-bands-v1 (fixed)", "fixed_holdout")):
            lines.append(f"bands {label}: " + "  ".join(f"{b} {v['share']:.1%}" for b, v in r["bands"][key].items()))
    for name, metrics in r.get("baselines", {}).items():
        lines.append(f"baseline {name} (as its run logged it): map_at_5 {metrics['map_at_5']:.4f}")
    lines.append(f"report: {r['report']}")
    return "\n".join(lines)


@click.command("promote")
@click.argument("model_name", metavar="MODEL")
@click.option("--version", "version", required=True, help="Model version to promote.")
@click.option("--alias", type=click.Choice(PROMOTION_ALIASES), default="champion",
              show_default=True, help="champion: only if it beats the champion (or --force); challenger and "
                                      "shadow: set without comparison.")
@click.option("--force", is_flag=True, help="Promote to champion even if it does not beat the champion (recorded).")
@click.option("--reason", metavar="TEXT", help="Why, recorded on the run and the version with who and when.")
@json_option
@handles_errors
def promote(model_name: str, version: str, alias: str, force: bool, reason: str | None, as_json: bool) -> None:
    """Point an alias at MODEL's VERSION; champion only if it beats the champion on its holdout (or --force)."""
    from models.alias_history import AliasHistory
    from models.registry import CHAMPION, FRAUD, RECOMMENDER, split_name
    from training import registry
    from training.recommender.review import promote_recommender
    from training.risk.review import promote_version

    settings = load_settings()
    if alias != CHAMPION:
        if force:
            raise click.UsageError("--force is for --alias champion; challenger and shadow are set without comparison")
        result = registry.set_alias(registry.connect(settings.mlflow), model_name, version, alias, reason,
                                    AliasHistory(settings.audit_url))
    elif split_name(model_name)[0] == RECOMMENDER:
        result = promote_recommender(settings, version, force, reason, model_name)
    elif split_name(model_name)[0] == FRAUD:
        from training.fraud.run import promote_fraud

        result = promote_fraud(settings, model_name, version, force, reason)
    else:
        result = promote_version(settings, model_name, version, force, reason)
    emit(result, as_json, lambda r: f"{r['model']} v{r['model_version']}: "
         f"{'now ' + r['alias'] if 'alias' in r else 'promoted' if r['promoted'] else 'not promoted'}"
         f"{' (forced)' if r['forced'] else ''}; {r['reason']}")


@click.command("retrain")
@click.option("--model", "models", type=click.Choice([*RISK_KINDS, "recommender"]), multiple=True,
              help="Model(s) to retrain (default: all three).")
@data_option
@fast_option
@trees_option
@leaves_option
@json_option
@handles_errors
def retrain_command(models: tuple[str, ...], data_dir: Path | None, fast: bool, trees: int | None,
                    leaves: int | None, as_json: bool) -> None:
    """Rebuild features, train, compare with each champion, promote only the better, print the comparison."""
    settings = load_settings()
    data = data_dir or settings.data_dir
    chosen = list(models) or [*RISK_KINDS, "recommender"]
    risk = [m for m in RISK_KINDS if m in chosen]  # the order they train in: risk models, then the recommender
    in_order = [*risk, *(["recommender"] if "recommender" in chosen else [])]
    names = ["loading libraries", "features", "materialize",
             *(f"{kind}: {step}" for kind in in_order for step in TRAINING_STEPS[1:])]
    with steps("retraining", names), captured_output():
        from training.risk.pipeline import comparison_row, retrain

        result = retrain(settings, data, risk, tree_settings(fast, trees, leaves),
                         tuning_budget(fast, "local", trees is not None or leaves is not None, None, None))
        if "recommender" in chosen:
            from training.recommender.cli import ranker_settings
            from training.recommender.runs import train_recommender

            run = train_recommender(settings, data, ranker_settings(fast, trees, leaves))
            result["runs"].append(run)
            result["comparison"].append(comparison_row(run))
    emit(result, as_json, _retrain_text)


def _retrain_text(r: dict[str, Any]) -> str:
    def value(v: float | None) -> str:
        return "-" if v is None else f"{v:.4f}"

    lines = [f"{'model':<16} {'metric':<8} {'champion':>12} {'new':>12}  promoted"]
    for row in r["comparison"]:
        champion = f"v{row['champion_version']} {value(row['champion_value'])}" if row["champion_version"] else "-"
        lines.append(f"{row['model']:<16} {row['metric']:<8} {champion:>12} "
                     f"{'v' + row['new_version'] + ' ' + value(row['new_value']):>12}  {row['promoted']}")
    return "\n".join(lines)


@click.command("score")
@click.argument("model", type=KINDS)
@click.option("--input", "input_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Portfolio: customer_id and the model's feature columns (.csv or .parquet).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Scores (.csv or .parquet).")
@click.option("--errors", "errors_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Bad rows by row and column (default: OUTPUT with .errors.csv).")
@click.option("--model-uri", help="Model to score with (default: the portfolio's champion, "
                                  "models:/<name>@champion).")
@click.option("--portfolio", metavar="NAME", help="The portfolio the file belongs to (default: NBO_PORTFOLIO, demo).")
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Take the file's portfolio from this data directory's source.json instead.")
@click.option("--force", is_flag=True, help="Score even when the model belongs to another portfolio or lacks "
                                            "columns of the file (recorded in the output and the log).")
@lang_option("Language of the reasons and actions in the scores file.")
@json_option
@handles_errors
def score(model: str, input_path: Path, output: Path, errors_path: Path | None, model_uri: str | None,
          portfolio: str | None, data_dir: Path | None, force: bool, lang: str, as_json: bool) -> None:
    """Score a portfolio file: PD, points, band and reason codes (delinquency) or churn risk.

    The model must belong to the file's portfolio and find all its feature columns in the file;
    otherwise the command refuses (exit 2, naming both) unless --force. Bad cells and ids on more
    than one row are rejected by row into the errors file; a value the model never saw in
    development is named in the row's `flags` column.
    """
    from models.registry import CHAMPION, RISK_MODEL_NAMES, connect, load_risk, registered_name
    from sources.portfolio import check_portfolio_name, portfolio_of
    from training.risk.portfolio import read_portfolio, score_portfolio, write_frame

    if portfolio and data_dir:
        raise click.UsageError("give the file's portfolio by --portfolio or by --data, not both")
    settings = load_settings()
    owner = portfolio_of(data_dir) if data_dir else check_portfolio_name(portfolio or settings.portfolio,
                                                                         "--portfolio")
    frame = read_portfolio(input_path)  # a bad file fails before the model is loaded
    connect(settings.mlflow)
    uri = model_uri or f"models:/{registered_name(RISK_MODEL_NAMES[model], owner)}@{CHAMPION}"
    scorer = load_risk(uri)
    overridden = score_mismatches(input_path, owner, uri, scorer.spec.portfolio,
                                  [f for f in scorer.spec.features if f not in frame.columns], force)
    frame = frame.assign(**dict.fromkeys(f for f in scorer.spec.features if f not in frame.columns))
    started = time.perf_counter()
    with progress_bar(f"scoring {model}", len(frame), unit="rows") as bar:
        result = score_portfolio(scorer, frame, lang, on_chunk=bar.advance)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    errors_file = errors_path or output.with_name(output.stem + ".errors.csv")
    write_frame(result.scores, output)
    write_frame(result.errors, errors_file)
    if result.rows_rejected:
        for bad in result.errors.head(5).itertuples():
            log.warning("row_rejected", extra={
                "where": f"{input_path}: row {bad.row}, column {bad.column}: {bad.message}", "value": bad.value})
        log.warning("rows_rejected", extra={"rows": result.rows_rejected, "listed_in": str(errors_file),
                                            "note": "the good rows were scored"})
    for flagged in result.flagged.head(5).itertuples():
        log.warning("row_flagged", extra={"where": f"{input_path}: row {flagged.row}", "flags": flagged.flags})
    if len(result.flagged):
        log.warning("rows_flagged", extra={"rows": len(result.flagged), "listed_in": f"{output} (column flags)",
                                           "note": "scored; a value the model never saw in development"})
    emit({"model_uri": uri, "portfolio": owner, "model_portfolio": scorer.spec.portfolio,
          "forced": overridden, "rows_in": result.rows_in, "rows_scored": len(result.scores),
          "rows_rejected": result.rows_rejected, "error_cells": len(result.errors),
          "rows_flagged": len(result.flagged), "output": output.resolve(),
          "errors": errors_file.resolve(), "seconds": round(seconds, 3),
          "rows_per_second": round(len(result.scores) / seconds) if seconds else None}, as_json,
         lambda r: f"scored {r['rows_scored']} of {r['rows_in']} rows into {r['output']} "
                   f"({r['rows_rejected']} rejected, listed in {r['errors']}; {r['rows_flagged']} flagged)"
                   + "".join(f"\nforced: {problem}" for problem in r["forced"]))


def score_mismatches(input_path: Path, portfolio: str, uri: str, model_portfolio: str, missing: list[str],
                     force: bool) -> list[str]:
    """What differs between a scoring file and its model: another portfolio, feature columns the file
    lacks. ContractViolation (exit 2) naming both unless `force`; forced, each is logged and returned."""
    from nbo.errors import ContractViolation

    problems = []
    if model_portfolio != portfolio:
        problems.append(f"{input_path} belongs to portfolio {portfolio!r}, {uri} to portfolio {model_portfolio!r}")
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        problems.append(f"{input_path} lacks {len(missing)} of the feature columns of {uri} "
                        f"(portfolio {model_portfolio!r}): {shown}")
    if problems and not force:
        raise ContractViolation("; ".join(problems) + ": not scored (--force scores anyway, missing columns as "
                                "missing values, and records it)")
    for problem in problems:
        log.warning("score_forced", extra={"problem": problem, "model_uri": uri})
    return problems
