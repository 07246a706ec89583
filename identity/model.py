"""The probabilistic matcher: a Splink (Fellegi–Sunter) model over normalised records.

m probabilities come from EM on blocking passes, u probabilities from random sampling, always on DuckDB
in-process; scoring runs on DuckDB by default, on Spark (local or a cluster) when the settings say
`stores.offline = "spark"`, with the parameters trained on DuckDB.
Every scored pair carries evidence: the comparison levels that agreed, e.g. `name:exact;phone:exact`."""

from __future__ import annotations

import copy
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import pandas as pd
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import Linker, SettingsCreator, block_on
from splink.internals.comparison_level_creator import ComparisonLevelCreator

from identity.rules import PAIR_COLUMNS

log = logging.getLogger(__name__)

Backend = Literal["duckdb", "spark"]
MODEL_COLUMNS = ["uid", "family", "given", "name_fg", "name_gf", "name_letters", "birth_date", "gender", "phone_hash", "email_hash",
                 "id_hash", "id_valid", "address", "postcode", "city"]
SPARK_DRIVER_MEMORY = "4g"  # as the offline store's driver: a sixth of a 24 GiB machine
SCORE_FLOOR = 0.01  # pairs below this probability are not kept (the threshold curve starts above it)
_TRANSPOSED = ("substr(birth_date_l, 1, 4) = substr(birth_date_r, 1, 4) AND substr(birth_date_l, 6, 2) = "
               "substr(birth_date_r, 9, 2) AND substr(birth_date_l, 9, 2) = substr(birth_date_r, 6, 2)")
_NO_PLACE = ("(address_l IS NULL OR address_r IS NULL) AND (postcode_l IS NULL OR postcode_r IS NULL) "
             "AND (city_l IS NULL OR city_r IS NULL)")
# Candidate pairs: records that agree on at least one of these (each pass is small even at a million records).
BLOCKING = (
    block_on("id_hash"),
    block_on("phone_hash"),
    block_on("email_hash"),
    block_on("birth_date", "family"),
    block_on("birth_date", "given"),
    "l.birth_date = r.birth_date AND l.name_fg = r.name_gf",
    block_on("name_fg", "postcode"),
    block_on("name_fg", "city"),
    "l.name_fg = r.name_fg AND substr(l.birth_date, 1, 4) = substr(r.birth_date, 1, 4)",
)


def _levels() -> dict[str, list[tuple[str, ComparisonLevelCreator]]]:
    """Per comparison, its agreeing levels (most specific first) with the evidence label of each."""
    return {
        # A rare name agreeing says more than a common one (term frequencies). A typed typo drops,
        # doubles or transposes a letter; one letter in place of another is more often another person
        # (a sibling's given name), so it falls to the Jaro–Winkler levels.
        "name": [("exact", cll.ExactMatchLevel("name_fg", term_frequency_adjustments=True)),
                 ("swapped", cll.CustomLevel("name_fg_l = name_gf_r", "family and given swapped")),
                 ("typo", cll.And(cll.DamerauLevenshteinLevel("name_fg", 1),
                                  cll.CustomLevel("length(name_fg_l) <> length(name_fg_r) "
                                                  "OR name_letters_l = name_letters_r"))),
                 ("jw>0.92", cll.JaroWinklerLevel("name_fg", 0.92)),
                 ("jw>0.80", cll.JaroWinklerLevel("name_fg", 0.80))],
        "birth_date": [("exact", cll.ExactMatchLevel("birth_date")),
                       ("day-month transposed", cll.CustomLevel(_TRANSPOSED, "day and month transposed")),
                       ("one digit", cll.LevenshteinLevel("birth_date", 1)),
                       ("year", cll.CustomLevel("substr(birth_date_l, 1, 4) = substr(birth_date_r, 1, 4)", "year"))],
        "phone": [("exact", cll.ExactMatchLevel("phone_hash"))],
        "id_number": [("exact", cll.CustomLevel("id_hash_l = id_hash_r AND id_valid_l AND id_valid_r",
                                                "same valid ID number")),
                      ("checksum invalid", cll.CustomLevel("NOT id_valid_l OR NOT id_valid_r",
                                                           "either ID number fails its checksum"))],
        "email": [("exact", cll.ExactMatchLevel("email_hash"))],
        "gender": [("exact", cll.ExactMatchLevel("gender"))],
        "address": [("exact", cll.ExactMatchLevel("address")),
                    ("jw>0.90", cll.JaroWinklerLevel("address", 0.90)),
                    ("postcode", cll.ExactMatchLevel("postcode")),
                    ("city", cll.ExactMatchLevel("city"))],
    }


_NULLS = {"name": "name_fg", "birth_date": "birth_date", "phone": "phone_hash", "id_number": "id_hash",
          "email": "email_hash", "gender": "gender"}


def settings() -> SettingsCreator:
    """The model's settings: one deduplication over all systems' records (uid = system:record_id)."""
    comparisons = []
    for name, levels in _levels().items():
        null = cll.NullLevel(_NULLS[name]) if name in _NULLS else \
            cll.CustomLevel(_NO_PLACE, "no address, postcode or city").configure(is_null_level=True)
        agreeing = [level.configure(label_for_charts=label) for label, level in levels]
        comparisons.append(cl.CustomComparison([null, *agreeing, cll.ElseLevel()], output_column_name=name))
    return SettingsCreator(link_type="dedupe_only", unique_id_column_name="uid", comparisons=comparisons,
                           blocking_rules_to_generate_predictions=list(BLOCKING), retain_intermediate_calculation_columns=False,
                           retain_matching_columns=True)  # gamma_* (evidence) needs it


def evidence_labels() -> dict[str, dict[int, str]]:
    """gamma value -> label per comparison (Splink numbers the else level 0, the first agreeing level highest)."""
    return {name: {len(levels) - i: label for i, (label, _) in enumerate(levels)}
            for name, levels in _levels().items()}


@contextmanager
def database(backend: Backend, spark_master: str = "local[2]") -> Iterator[Any]:
    """A Splink database API: DuckDB in memory, or a Spark session (stopped afterwards if we started it)."""
    if backend == "duckdb":
        from splink import DuckDBAPI

        yield DuckDBAPI()
        return
    from pyspark.sql import SparkSession
    from splink import SparkAPI
    from splink.internals.spark.jar_location import similarity_jar_location

    started = SparkSession.getActiveSession() is None
    builder = SparkSession.builder.master(spark_master).appName("nbo-identity")
    for key, value in {"spark.jars": similarity_jar_location(), "spark.ui.enabled": "false",
                       "spark.ui.showConsoleProgress": "false", "spark.sql.session.timeZone": "UTC",
                       "spark.log.level": "ERROR", "spark.driver.memory": SPARK_DRIVER_MEMORY,
                       # records go over as Arrow batches (an RDD); without it they become a LocalRelation
                       # that every query plan copies on the driver (heap exhausted at 100,000 records)
                       "spark.sql.execution.arrow.pyspark.enabled": "true",
                       **({"spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1",
                           "spark.sql.shuffle.partitions": "2"} if spark_master.startswith("local") else {})}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    # Splink's intermediate tables go to parquet files, not the driver's heap (persist ran it out of
    # memory at 100,000 records in local mode, where the executor is the driver)
    with tempfile.TemporaryDirectory(prefix="nbo-identity-spark-") as checkpoints:
        session.sparkContext.setCheckpointDir(checkpoints)
        try:
            yield SparkAPI(spark_session=session, break_lineage_method="parquet", num_partitions_on_repartition=2)
        finally:
            if started:
                session.stop()


def _register(db_api: Any, records: pd.DataFrame, name: str) -> Any:
    records = records.assign(name_letters=records["name_fg"].map(
        lambda n: "".join(sorted(n)) if isinstance(n, str) else None))
    frame = records[MODEL_COLUMNS].astype(object).where(records[MODEL_COLUMNS].notna(), None)
    return db_api.register(frame, table_name=name)


def train(db_api: Any, records: pd.DataFrame, seed: int = 7) -> Linker:
    """A linker whose m (EM on blocking passes) and u (random sampling) are trained on `records`."""
    linker = Linker(_register(db_api, records, "identity_records"), settings(), log_level=logging.WARNING)
    # The prior: pairs that agree on an ID number, on phone and birth date, or on phone and name, taken as
    # 70% of the true pairs (many records hold neither an ID number nor a birth date).
    deterministic = [block_on("id_hash"), block_on("phone_hash", "birth_date"), block_on("phone_hash", "name_fg")]
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
    # Each pass trains the m of every comparison it does not block on; the birth date is trained by the
    # second or third. EM runs on a copy: a pass where some level's m underflows to 0 (no match ever
    # takes it) raises, and is then skipped with the linker as it was.
    for rule in (block_on("birth_date"), block_on("name_fg"), block_on("phone_hash", "name_fg")):
        trial = copy.deepcopy(linker)
        try:
            trial.training.estimate_parameters_using_expectation_maximisation(rule, max_pairs=2e6)
        except ValueError as err:
            log.warning("em_pass_skipped", extra={"blocking_rule": rule.create_sql(trial._sql_dialect),
                                                  "reason": str(err)})
            continue
        linker = trial
    return linker


def scorer(db_api: Any, records: pd.DataFrame, trained: dict[str, Any]) -> Linker:
    """A linker on `db_api` that scores with the parameters of `trained` (a saved model, whichever
    backend trained it): the settings are written for this backend's SQL, the prior and every level's
    m and u are taken from `trained`. Training always runs on DuckDB, in-process (Spark would run EM and
    u sampling as hundreds of small jobs); Spark scores."""
    mine = settings().create_settings_dict(db_api.sql_dialect.sql_dialect_str)
    mine["probability_two_random_records_match"] = trained["probability_two_random_records_match"]
    theirs = {c["output_column_name"]: c["comparison_levels"] for c in trained["comparisons"]}
    for comparison in mine["comparisons"]:
        for level, learnt in zip(comparison["comparison_levels"], theirs[comparison["output_column_name"]],
                                 strict=True):
            level.update({k: learnt[k] for k in ("m_probability", "u_probability") if k in learnt})
    return Linker(_register(db_api, records, "identity_records"), mine, log_level=logging.WARNING)


def parameters(linker: Linker) -> dict[str, Any]:
    """The trained parameters: prior match probability, and m and u per comparison level."""
    model = linker.misc.save_model_to_json()
    return {"probability_two_random_records_match": model["probability_two_random_records_match"],
            "comparisons": {c["output_column_name"]: [
                {"level": lv.get("label_for_charts", ""), "m": lv.get("m_probability"), "u": lv.get("u_probability")}
                for lv in c["comparison_levels"] if not lv.get("is_null_level")] for c in model["comparisons"]}}


def score(linker: Linker, db_api: Any, records: pd.DataFrame, new: pd.Series | None = None
          ) -> tuple[pd.DataFrame, int]:
    """Scored candidate pairs (PAIR_COLUMNS) at or above SCORE_FLOOR, and how many pairs were compared.
    With `new` (bool per record) only pairs touching a new record are compared: new against existing,
    and new against each other."""
    if new is None:
        scored = [linker.inference.predict()]
    else:
        linker.table_management.compute_tf_table("name_fg")  # name frequencies over every record
        fresh = _register(db_api, records[new], "identity_new")
        scored = [linker.inference.predict_within(fresh)]
        if (~new).any():
            old = _register(db_api, records[~new], "identity_old")
            scored.append(linker.inference.predict_between(fresh, old))
    compared = sum(int(s.query_sql("SELECT count(*) AS n FROM {this}").as_record_list()[0]["n"]) for s in scored)
    gammas = ", ".join(f"gamma_{name}" for name in _levels())
    kept = [s.query_sql(f"SELECT uid_l, uid_r, match_probability, {gammas} FROM {{this}} "
                        f"WHERE match_probability >= {SCORE_FLOOR}").as_pandas_dataframe() for s in scored]
    return _pairs(pd.concat(kept, ignore_index=True), records), compared


def _pairs(scored: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    labels = evidence_labels()
    evidence = pd.Series([[] for _ in range(len(scored))], index=scored.index, dtype=object)
    for name, by_gamma in labels.items():
        tags = scored[f"gamma_{name}"].map(lambda g, b=by_gamma, n=name: f"{n}:{b[g]}" if g in b else None)
        evidence = evidence.combine(tags, lambda acc, tag: [*acc, tag] if tag else acc)
    where = records.set_index("uid")[["system", "record_id"]]
    left, right = where.loc[scored["uid_l"]].reset_index(drop=True), where.loc[scored["uid_r"]].reset_index(drop=True)
    return pd.DataFrame({"system_l": left["system"], "record_id_l": left["record_id"], "system_r": right["system"],
                         "record_id_r": right["record_id"],
                         "match_probability": scored["match_probability"].astype(float).to_numpy(),
                         "evidence": [";".join(e) for e in evidence]})[PAIR_COLUMNS]
