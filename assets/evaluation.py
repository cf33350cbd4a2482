"""Evaluation assets: each registered benchmark's eval table, and `evaluate`, which closes the loop after
`finetune` (engine: evaluation/, docs/evaluation.md).

- `<benchmark>_eval`, one per source of family "benchmark" in the registry (their `<benchmark>_download`
  assets come from the source factory): the hub rows read into the eval table, with a check that every
  upstream row became a question or a rejection with its reason.
- `evaluate`, partitioned by benchmark (the two hub benchmarks and the held-out rendered one): the
  finetuned checkpoint and a baseline answer every question, the deterministic judge scores them, and
  the metadata is Spatial-LLaVA's README table for both. Every stage is a step of the step contract, so
  the baseline is evaluated once and reused, and a re-run over unchanged inputs answers nothing.

Heavy imports (torch, transformers, PIL, pyarrow) stay inside the asset bodies: loading the definitions
must stay light."""

import dataclasses
import math
from pathlib import Path
from typing import Any

import dagster as dg

from evaluation.presets import BASELINE, GenerationConfig
from evaluation.sources import EVAL_BENCHMARKS, FAMILY, RENDERED
from pipeline.sources.base import IngestReport, Source
from pipeline.sources.registry import SOURCES

from .catalog import describe
from .lib import config_from, metadata, rows_table, table_metadata
from .resources import Workspace
from .sources import upstream_failures

GROUP = "evaluation"


def benchmark_sources() -> list[Source]:
    return [s for s in SOURCES.values() if s.family == FAMILY]


def _accounted(report: IngestReport) -> int:
    """Upstream rows neither read into a question nor rejected ("extra_turns" notes a kept row)."""
    rejected = sum(n for reason, n in report.rejections.items() if reason != "extra_turns")
    return (report.rows_read or 0) - report.records - rejected


def _table_asset(source: Source) -> dg.AssetsDefinition:
    name = f"{source.name}_eval"

    @dg.asset(name=name, group_name=GROUP, deps=[f"{source.name}_download"],
              check_specs=[dg.AssetCheckSpec("rows_accounted", asset=name, description=(
                  "every upstream row became a question or a rejection with its reason"))],
              description=f"{source.name}'s rows as an eval table (questions, truths from the reference "
                          "answers, region marks); never training data.",
              **describe("evaluation", {"python", "parquet"}, source=source.name, family=source.family))
    def table(context: dg.AssetExecutionContext, workspace: Workspace) -> dg.MaterializeResult:
        import pyarrow.parquet as pq

        with upstream_failures():  # an unknown shape or a refused upstream: one failure that names it
            report = source.ingest(workspace.ingest_context(context.log.info))
        unaccounted = _accounted(report)
        out = metadata({"questions": report.records, "rows_read": report.rows_read,
                        "rejected": sum(report.rejections.values()), "rejections": dict(report.rejections),
                        "reused": report.reused, **report.details, "table": Path(report.details["table"])})
        out["preview"] = rows_table(pq.read_table(report.details["table"]).slice(0, 5).to_pylist(),
                                    ["id", "category", "question", "answer"])
        out |= table_metadata([Path(report.details["table"])])
        return dg.MaterializeResult(metadata=out, check_results=[dg.AssetCheckResult(
            check_name="rows_accounted", passed=unaccounted == 0, metadata={"unaccounted_rows": unaccounted})])
    return table


# Generation settings come from the evaluation preset of the workspace's finetune preset; any field set
# here overrides it for one run (empty: the preset's).
EvaluateConfig = config_from("EvaluateConfig", GenerationConfig, exclude={"revision"}, optional=True, extra={
    "checkpoint": (str, "", "checkpoint folder to evaluate; empty: the one the latest `finetune` reported"),
    "baseline": (str, "", f"baseline checkpoint (folder or hub id); empty: the workspace's eval_baseline, "
                          f"else {BASELINE}"),
    "baseline_revision": (str, "", "hub revision of the baseline (a commit pins it); empty: main"),
    "rendered_scenes": (int, 0, "held-out rendered scenes (rendered_heldout partition); 0: the preset's"),
    "preset": (str, "", "evaluation preset ('llava-1.5-7b' or 'tiny'); empty: the workspace's finetune preset"),
})


def _finetuned(context: dg.AssetExecutionContext) -> str:
    """The checkpoint the latest `finetune` materialization reported (its `final` folder)."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey("finetune"))
    reported = event.asset_materialization.metadata.get("checkpoint") if event and event.asset_materialization \
        else None
    if reported is None:
        raise dg.Failure("no finetuned checkpoint: materialize `finetune` first, or set config.checkpoint")
    return str(reported.value)


def _rows(name: str, scores: Any) -> list[dg.TableRecord]:
    return [dg.TableRecord({"model": name, **{k: (None if isinstance(v, float) and math.isnan(v) else v)
                                              for k, v in row.items()}}) for row in scores.rows()]


SCORE_COLUMNS = dg.TableSchema(columns=[
    dg.TableColumn("model", "string"), dg.TableColumn("category", "string"), dg.TableColumn("asked", "int"),
    dg.TableColumn("correct", "int"), dg.TableColumn("unparseable", "int"), dg.TableColumn("success_pct", "float"),
    dg.TableColumn("mean_error", "float"), dg.TableColumn("error_unit", "string")])


def _pct(x: float) -> float | None:
    return None if math.isnan(x) else round(100 * x, 2)


def _evaluate_asset() -> dg.AssetsDefinition:
    @dg.asset(
        name="evaluate", group_name=GROUP, pool="gpu", **describe("evaluation", {"pytorch", "transformers"}),
        deps=["finetune", *(f"{s.name}_eval" for s in benchmark_sources())],
        partitions_def=dg.StaticPartitionsDefinition(list(EVAL_BENCHMARKS)),
        description="The finetuned checkpoint and a baseline on one spatial benchmark (greedy answers, "
                    "deterministic judge); metadata: Spatial-LLaVA's README table for both.",
    )
    def evaluate(context: dg.AssetExecutionContext, config: EvaluateConfig,  # type: ignore[valid-type]
                 workspace: Workspace) -> dg.MaterializeResult:
        from evaluation.presets import EVAL_PRESETS
        from evaluation.rendered import build_rendered_table, check_disjoint
        from evaluation.run import evaluate_against_baseline

        layout = workspace.layout()
        benchmark = context.partition_key
        preset_name = config.preset or workspace.finetune_preset
        if preset_name not in EVAL_PRESETS:
            raise dg.Failure(f"unknown evaluation preset {preset_name!r}; choose one of {sorted(EVAL_PRESETS)}")
        preset = EVAL_PRESETS[preset_name]
        overrides = {f.name: getattr(config, f.name) for f in dataclasses.fields(GenerationConfig)
                     if f.name != "revision" and getattr(config, f.name) is not None}
        generation = dataclasses.replace(preset.generation, **overrides)
        checkpoint = config.checkpoint or _finetuned(context)
        baseline = config.baseline or workspace.eval_baseline or BASELINE
        if workspace.scene_pool:  # the held-out scenes must never have been training data
            try:
                check_disjoint(Path(workspace.scene_pool))
            except (ValueError, FileNotFoundError) as err:
                raise dg.Failure(f"training scene pool check failed: {err}") from err
        if benchmark == RENDERED:
            table_dir = layout.tables(RENDERED)
            build_rendered_table(table_dir, config.rendered_scenes or preset.rendered_scenes, context.log.info)
        else:
            table_dir = SOURCES[benchmark].eval_dir(layout)  # type: ignore[attr-defined]
            if not (table_dir / "eval.parquet").is_file():
                raise dg.Failure(f"no eval table in {table_dir}: materialize `{benchmark}_eval` first")
        report, base, markdown = evaluate_against_baseline(
            table_dir, checkpoint, layout.evaluations(), baseline, generation, config.baseline_revision or None,
            context.log.info)
        out = metadata(_summary(benchmark, checkpoint, baseline, report, base) | {
            "max_new_tokens": generation.max_new_tokens})
        out["scores"] = dg.MetadataValue.md(markdown)
        out["by_category"] = dg.MetadataValue.table(
            records=_rows("finetuned", report.scores) + _rows("baseline", base.scores), schema=SCORE_COLUMNS)
        out["unparseable_ids"] = dg.MetadataValue.json(report.scores.unparseable_ids[:50])
        return dg.MaterializeResult(metadata=out)
    return evaluate


def _summary(benchmark: str, checkpoint: str, baseline: str, report: Any, base: Any) -> dict[str, Any]:
    """The numbers the UI plots over materializations: README averages of both models, unparseable counts."""
    from evaluation.scores import QUALITATIVE_COLUMNS, QUANTITATIVE_COLUMNS

    qualitative, quantitative = (tuple(c for c, _ in cols) for cols in (QUALITATIVE_COLUMNS, QUANTITATIVE_COLUMNS))
    values: dict[str, Any] = {"benchmark": benchmark, "checkpoint": checkpoint, "baseline": baseline,
                              "questions": sum(s.asked for s in report.scores.categories.values())}
    for prefix, r in (("", report), ("baseline_", base)):
        values |= {f"{prefix}qualitative_avg_pct": _pct(r.scores.average(qualitative)),
                   f"{prefix}quantitative_avg_pct": _pct(r.scores.average(quantitative)),
                   f"{prefix}unparseable": len(r.scores.unparseable_ids), f"{prefix}reused": r.reused,
                   f"{prefix}judged": r.folder / "judged.parquet"}
    return values


def evaluation_assets() -> list[dg.AssetsDefinition]:
    """Built from the registry as it is when called (the definitions call it once)."""
    return [*(_table_asset(s) for s in benchmark_sources()), _evaluate_asset()]
