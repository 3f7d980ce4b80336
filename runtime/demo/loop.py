"""The demo's orchestration: platform, model, services, traffic, live view, report — and a clean stop.

:func:`run_demo` is what ``helicon demo`` calls. Ctrl-C (or SIGTERM) at any moment stops the
traffic, every service process and, if the demo started it, the local platform, then exits 130.
"""

from __future__ import annotations

import secrets
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from helicon.infra.local import LocalPlatform, LocalPlatformConfig
from helicon.runtime.contracts import PipelineTopics
from helicon.runtime.demo.initial_model import train_initial_model
from helicon.runtime.demo.live import LiveView
from helicon.runtime.demo.observer import Observer
from helicon.runtime.demo.report import write_report
from helicon.runtime.demo.retrain_job import RetrainJob
from helicon.runtime.demo.scenario import Scenario
from helicon.runtime.demo.services import ServicePlan, Services
from helicon.runtime.demo.traffic import Traffic
from helicon.runtime.kafka_client import client_config

LEARNER_MODEL = "hbp:layers=4,units=32"


@dataclass(frozen=True)
class DemoOptions:
    state_dir: Path
    pipeline: str = "demo"
    keep_up: bool = False
    short: bool = False
    events: int | None = None
    report_dir: Path = Path("demo-report")
    live: bool = True
    seed: int = 7


@dataclass
class _Progress:
    """What was already told to the user, so each event is told once."""

    alerts: int = 0
    triggers: int = 0
    retrains: int = 0
    champion_versions: int = 1
    timeline: list[dict[str, Any]] = field(default_factory=list)


class DemoFailed(RuntimeError):
    """The demo could not complete; the message says what went wrong and where the logs are."""


def run_demo(options: DemoOptions, console: Console) -> dict[str, Any]:
    """Run the whole loop; returns the summary (also written to ``report_dir/summary.json``)."""
    previous_term = signal.signal(signal.SIGTERM, _interrupt)
    _quiet_mlflow()
    platform = LocalPlatform(LocalPlatformConfig(state_dir=options.state_dir))
    was_up = platform.status().healthy
    services: Services | None = None
    job: RetrainJob | None = None
    traffic: Traffic | None = None
    observer: Observer | None = None
    lag: _LagProbe | None = None
    try:
        console.rule("[bold]1. Local platform")
        status = platform.up(progress=lambda message: console.print(f"  · {message}"))
        bootstrap, tracking = status.kafka.endpoint or "", status.mlflow.endpoint or ""
        console.print(f"  Kafka [bold]{bootstrap}[/bold] · MLflow [bold]{tracking}[/bold] · S3 [bold]{status.s3.endpoint}[/bold]")
        started = time.monotonic()
        timings: dict[str, float] = {}
        scenario = Scenario.preset("short" if options.short else "full", seed=options.seed, events=options.events)
        run_id = uuid.uuid4().hex[:8]
        topics = PipelineTopics.for_pipeline(options.pipeline)
        learner_topic = f"{options.pipeline}.learner-predictions"
        _reset_topics(bootstrap, [*_all(topics), learner_topic])

        console.rule("[bold]2. Services and the initial model")
        model_name = f"{options.pipeline}-classifier"
        secret = secrets.token_hex(16)
        job = RetrainJob(bootstrap, tracking, model_name, topics.features, secret.encode())
        job.start()
        plan = ServicePlan(bootstrap, tracking, topics, learner_topic, model_name, LEARNER_MODEL, job.url, secret, run_id,
                           scenario.ddm_warm_start, scenario.promotion_min_joined, scenario.promotion_window)
        run_dir = options.state_dir / "demo" / run_id
        services = Services(plan, run_dir)
        services.start(["drift", "learn"])  # they need no model: they boot while it trains
        console.print(f"  retrain job (stand-in for CI) at {job.url}, HMAC-checked")
        phase = time.monotonic()
        initial = train_initial_model(tracking, model_name, scenario)
        timings["initial_model_s"] = round(time.monotonic() - phase, 1)
        console.print(f"  logistic regression on concept C1, hold-out accuracy {initial.holdout_accuracy:.3f}; "
                      f"registered [bold]{model_name}[/bold] v{initial.version} as @champion")
        services.start(["bridge"])
        for name, service in services.started.items():
            console.print(f"  helicon run {name} --config {run_dir / (name + '.yaml')}  (pid {service.process.pid}, "
                          f"metrics :{service.metrics_port}, log {service.log})")
        services.wait_ready()
        timings["services_and_model_s"] = round(time.monotonic() - started, 1)
        streaming_started = time.monotonic()

        console.rule(f"[bold]3. Stream {scenario.events} events at {scenario.rate:.0f}/s, labels {scenario.feedback_delay_s:.1f} s late")
        points = scenario.change_points()
        console.print(f"  abrupt change at {points['abrupt']}, gradual {points['gradual_start']}–{points['gradual_end']}, "
                      f"{points['drifting_feature']} shifts at {points['feature_drift']}")
        observer = Observer(bootstrap, topics.predictions, learner_topic, topics.feedback, topics.alerts)
        observer.start()
        traffic = Traffic(bootstrap, topics, scenario, run_id)
        traffic.start()
        progress = _Progress(timeline=[{"index": 0, "what": f"v{initial.version} serves as champion"}])
        lag = _LagProbe(bootstrap, topics.features, plan.group("drift"))
        traffic_ended: float | None = None
        with LiveView(console, options.live) as view:
            while True:
                services.check()
                for worker in (traffic, observer):
                    if worker.error is not None:
                        raise DemoFailed(f"{worker.name} failed: {worker.error!r}")
                state = _state(scenario, traffic, observer, job, lag, initial.version, started)
                _tell(view, progress, state, observer, job, initial.version)
                view.update(state)
                if traffic.finished and traffic_ended is None:
                    traffic_ended = time.monotonic()
                if traffic_ended is not None and (_all_in(scenario, observer, job) or time.monotonic() - traffic_ended > 60):
                    break
                time.sleep(0.25)
        streamed_s = time.monotonic() - started
        timings["streaming_s"] = round(time.monotonic() - streaming_started, 1)

        console.rule("[bold]4. Stop the services, write the report")
        step = _Stopwatch(console)
        codes = services.stop()
        job.stop()
        observer.stop()
        observer.join(10)
        step.done(f"services stopped (exit codes {codes})")
        served, online, alerts = observer.results()
        aliases = _aliases(tracking, model_name)
        alpha = _alpha_history(tracking, f"{plan.experiment}-learner")
        step.done("aliases and the learner's α read from MLflow")
        summary = _summary(options, scenario, initial.version, served, online, alerts, job, observer, aliases, codes,
                           services.pids(), progress, streamed_s)
        timings["stop_and_report_s"] = round(time.monotonic() - streaming_started - timings["streaming_s"], 1)
        summary["timings"] = timings
        page = write_report(options.report_dir, scenario, served, online, alerts, alpha, summary)
        step.done("figures drawn")
        _print_summary(console, summary, page)
        return summary
    except KeyboardInterrupt:
        console.print("\n[bold]interrupted[/bold]: stopping every process the demo started")
        raise
    finally:
        # The clean-up is bounded (SIGKILL after 40 s); a second Ctrl-C must not cut it short and leave processes behind.
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if lag is not None:
            lag.close()
        _stop_all(options, platform, was_up, traffic, services, job, observer, console)
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)


def _stop_all(options: DemoOptions, platform: LocalPlatform, was_up: bool, traffic: Traffic | None,
              services: Services | None, job: RetrainJob | None, observer: Observer | None, console: Console) -> None:
    """Stop whatever was started, in the reverse order; the platform only if this run started it."""
    if traffic is not None:
        traffic.stop()
    if services is not None:
        services.stop()
    if job is not None:
        job.stop(timeout_s=5)
    if observer is not None:
        observer.stop()
    if traffic is not None:
        traffic.join(10)
    if not options.keep_up and not was_up:
        console.rule("[bold]5. Stop the platform")
        platform.down(progress=lambda message: console.print(f"  · {message}"))
    elif not was_up:
        console.print(f"The platform is still up; stop it with: helicon local down --state-dir {options.state_dir}")


def _quiet_mlflow() -> None:
    """MLflow's run links and registry chatter would tear the live view; the demo says what happened itself."""
    import logging
    import os

    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    from mlflow.utils.logging_utils import disable_logging

    disable_logging()


class _Stopwatch:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.last = time.monotonic()

    def done(self, what: str) -> None:
        now = time.monotonic()
        self.console.print(f"  · {what} ({now - self.last:.1f} s)")
        self.last = now


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _all(topics: PipelineTopics) -> list[str]:
    return [topics.features, topics.predictions, topics.feedback, topics.alerts, topics.dlq]


def _reset_topics(bootstrap: str, names: list[str], timeout_s: float = 60.0) -> None:
    """Delete the pipeline's topics left by an earlier run and create them afresh with one partition,
    so that each detector sees the whole stream in order and a rerun starts from nothing."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(client_config({"bootstrap.servers": bootstrap}))
    existing = set(admin.list_topics(timeout=10).topics) & set(names)
    if existing:
        for future in admin.delete_topics(sorted(existing), operation_timeout=30).values():
            try:
                future.result()
            except KafkaException:
                pass
    deadline = time.monotonic() + timeout_s
    pending = list(names)
    while pending:
        futures = admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1) for name in pending])
        pending = []
        for name, future in futures.items():
            try:
                future.result()
            except KafkaException as error:
                if time.monotonic() > deadline:
                    raise DemoFailed(f"cannot create topic {name}: {error}") from None
                pending.append(name)  # still being deleted: try again
        if pending:
            time.sleep(0.5)


class _LagProbe:
    """The drift monitor's lag: features produced minus the offset its group committed."""

    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        from confluent_kafka import Consumer, TopicPartition

        self._consumer = Consumer(client_config({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}))
        self._partition = TopicPartition(topic, 0)
        self._last = 0.0
        self.value = 0

    def drift(self) -> int:
        if time.monotonic() - self._last >= 1.0:
            self._last = time.monotonic()
            try:
                committed = self._consumer.committed([self._partition], timeout=2)[0].offset
                high = self._consumer.get_watermark_offsets(self._partition, timeout=2)[1]
                self.value = max(0, high - max(committed, 0))
            except Exception:  # noqa: BLE001 - a slow broker answer leaves the last value shown
                pass
        return self.value

    def close(self) -> None:
        """Close the consumer (before the platform stops, or librdkafka reports the broker gone)."""
        self._consumer.close()


def _state(scenario: Scenario, traffic: Traffic, observer: Observer, job: RetrainJob, lag: _LagProbe,
           initial_version: str, started: float) -> dict[str, Any]:
    snap = observer.snapshot()
    jobs = job.snapshot()
    alerts = snap["alerts"]
    champion = snap["champion_versions"][-1][1] if snap["champion_versions"] else initial_version
    registered = [r["version"] for r in jobs["retrains"] if r.get("version")]
    # the canary's challenger as last seen answering, else a registered version not yet answering
    challenger = snap["challenger_version"]
    if registered and registered[-1] != champion and registered[-1] != challenger and int(registered[-1]) > int(champion):
        challenger = f"{registered[-1]} (registered)"
    if challenger == champion:
        challenger = None
    return {
        "sent": traffic.sent, "total": scenario.events, "labelled": traffic.labelled, "delay": scenario.feedback_delay_s,
        "phase": scenario.concept_phase(max(0, traffic.sent - 1)), "elapsed": time.monotonic() - started,
        "events_per_s": snap["events_per_s"],
        "lag": {"bridge": max(0, traffic.sent - snap["predictions"]), "learner": max(0, traffic.sent - snap["online_predictions"]),
                "drift": lag.drift()},
        "served_accuracy": snap["served_accuracy"], "online_accuracy": snap["online_accuracy"],
        "role_accuracy": snap["role_accuracy"], "learner_model": LEARNER_MODEL,
        "champion": champion, "challenger": challenger,
        "warnings": sum(1 for a in alerts if a.get("kind") == "warning"),
        "drifts": sum(1 for a in alerts if a.get("kind") == "drift"),
        "triggers": len(jobs["triggers"]), "retrains": len(registered),
    }


def _tell(view: LiveView, progress: _Progress, state: dict[str, Any], observer: Observer, job: RetrainJob,
          initial_version: str) -> None:
    snap = observer.snapshot()
    for alert in snap["alerts"][progress.alerts:]:
        what = (f"data {alert['kind']} on {alert['feature']}" if alert.get("tier") == "data"
                else f"concept {alert['kind']} (DDM on the error rate)")
        view.event(f"{what} at event {alert['index']}")
        progress.timeline.append({"index": alert["index"], "what": what})
    progress.alerts = len(snap["alerts"])
    jobs = job.snapshot()
    for trigger in jobs["triggers"][progress.triggers:]:
        action = "retraining" if trigger["retrain"] else "recorded, no retraining (data drift)"
        view.event(f"retrain trigger received for alert {trigger['alert_id'][:8]} ({trigger['tier']}): {action}")
        progress.timeline.append({"index": trigger["index"], "what": f"trigger for {trigger['tier']} drift: {action}"})
    progress.triggers = len(jobs["triggers"])
    for record in jobs["retrains"][progress.retrains:]:
        if record["version"]:
            view.event(f"retrained on {record['rows']} events {record['first_index']}–{record['last_index']} in "
                       f"{record['seconds']:.1f} s: registered v{record['version']} as @challenger")
            progress.timeline.append({"index": record["last_index"], "what": f"v{record['version']} registered as @challenger "
                                      f"(trained on events {record['first_index']}–{record['last_index']})"})
        else:
            view.event(f"retraining failed: {record['error']}")
    progress.retrains = len(jobs["retrains"])
    for index, version in snap["champion_versions"][progress.champion_versions:]:
        if version != initial_version:
            view.event(f"bridge promoted v{version} to @champion (serving from event {index})")
            progress.timeline.append({"index": index, "what": f"v{version} promoted to @champion"})
    progress.champion_versions = max(progress.champion_versions, len(snap["champion_versions"]))


def _all_in(scenario: Scenario, observer: Observer, job: RetrainJob) -> bool:
    """Every event answered by the bridge and the learner and joined to its label; no retraining running."""
    return (observer.predictions_seen >= scenario.events and observer.online_seen >= scenario.events
            and len(observer.served) >= scenario.events and not job.busy)


def _aliases(tracking: str, model_name: str) -> dict[str, str | None]:
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking)
    found: dict[str, str | None] = {}
    for alias in ("champion", "challenger"):
        try:
            found[alias] = str(client.get_model_version_by_alias(model_name, alias).version)
        except MlflowException:
            found[alias] = None
    return found


def _alpha_history(tracking: str, experiment: str) -> dict[str, list[tuple[int, float]]]:
    """HBP's α per head over learnt examples, from the learner's most recent MLflow run."""
    import mlflow

    client = mlflow.MlflowClient(tracking)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return {}
    runs = client.search_runs([found.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        return {}
    run = runs[0]
    history: dict[str, list[tuple[int, float]]] = {}
    for key in sorted(run.data.metrics):
        if key.startswith("alpha_"):
            points = client.get_metric_history(run.info.run_id, key)
            history[str(int(key.split("_")[1]))] = sorted((int(m.step), float(m.value)) for m in points)
    return history


def _accuracy(values: list[tuple[int, bool]], low: int, high: int) -> float | None:
    chosen = [correct for index, correct in values if low <= index < high]
    return round(sum(chosen) / len(chosen), 4) if chosen else None


def _summary(options: DemoOptions, scenario: Scenario, initial_version: str, served: list, online: list,
             alerts: list[dict[str, Any]], job: RetrainJob, observer: Observer, aliases: dict[str, str | None],
             codes: dict[str, int], pids: dict[str, int], progress: _Progress, streamed_s: float) -> dict[str, Any]:
    points = scenario.change_points()
    jobs = job.snapshot()
    served_pairs = [(o.index, o.correct) for o in served]
    abrupt, gradual = points["abrupt"], points["gradual_start"]
    recovered_from = abrupt + min(500, (gradual - abrupt) // 2)
    promotions = [{"index": index, "version": version} for index, version in observer.champion_versions if version != initial_version]
    drifts = [a for a in alerts if a.get("kind") == "drift"]
    after_promotion = None
    if promotions:
        first = promotions[0]["index"]
        following = [point for point in (abrupt, gradual, points["feature_drift"]) if point > first]
        after_promotion = _accuracy(served_pairs, first, min([first + 500, *following]))
    return {
        "ok": True, "mode": scenario.mode, "seed": scenario.seed, "events": scenario.events, "rate": scenario.rate,
        "feedback_delay_s": scenario.feedback_delay_s, "duration_s": round(streamed_s, 1), "change_points": points,
        "learner_model": LEARNER_MODEL,
        "alerts": [{key: a.get(key) for key in ("id", "kind", "tier", "detector_id", "feature", "index")} for a in alerts],
        "concept_drifts": [a["index"] for a in drifts if a.get("tier") == "concept"],
        "concept_warnings": [a["index"] for a in alerts if a.get("tier") == "concept" and a.get("kind") == "warning"],
        "data_drifts": [{"feature": a.get("feature"), "index": a["index"]} for a in drifts if a.get("tier") == "data"],
        "drift_alert_ids": [a["id"] for a in drifts],
        "triggers": jobs["triggers"], "triggers_rejected": jobs["rejected"], "retrains": jobs["retrains"],
        "model": {"name": f"{options.pipeline}-classifier", "initial_version": initial_version,
                  "champion_version": aliases.get("champion"), "challenger_version": aliases.get("challenger")},
        "promotions": promotions,
        "accuracy": {
            "served": {"before_abrupt": _accuracy(served_pairs, 0, abrupt),
                       "after_abrupt_recovered": _accuracy(served_pairs, recovered_from, gradual),
                       "after_first_promotion": after_promotion,
                       "last_500": _accuracy(served_pairs, scenario.events - 500, scenario.events)},
            "online": {"before_abrupt": _accuracy(online, 0, abrupt),
                       "after_abrupt_recovered": _accuracy(online, recovered_from, gradual),
                       "last_500": _accuracy(online, scenario.events - 500, scenario.events)},
            "recovery_window": [recovered_from, gradual],
        },
        "joined": {"served": len(served), "online": len(online)},
        "processes": pids, "exit_codes": codes, "timeline": sorted(progress.timeline, key=lambda row: row.get("index") or 0),
        "report_dir": str(options.report_dir),
    }


def _print_summary(console: Console, summary: dict[str, Any], page: Path) -> None:
    accuracy = summary["accuracy"]
    def pct(value: float | None) -> str:
        return "–" if value is None else f"{100 * value:.1f} %"
    console.print(f"  concept drifts at {summary['concept_drifts']} · data drifts at "
                  f"{[d['feature'] + '@' + str(d['index']) for d in summary['data_drifts']]} · "
                  f"triggers {len(summary['triggers'])} · retrained "
                  f"{[('v' + r['version']) for r in summary['retrains'] if r.get('version')]}")
    console.print(f"  champion v{summary['model']['initial_version']} → v{summary['model']['champion_version']} "
                  f"(promotions: {[('v' + p['version'] + '@' + str(p['index'])) for p in summary['promotions']]})")
    console.print(f"  accuracy before the change / recovered after it / last 500 events: served "
                  f"{pct(accuracy['served']['before_abrupt'])} / {pct(accuracy['served']['after_abrupt_recovered'])} / "
                  f"{pct(accuracy['served']['last_500'])} · online learner {pct(accuracy['online']['before_abrupt'])} / "
                  f"{pct(accuracy['online']['after_abrupt_recovered'])} / {pct(accuracy['online']['last_500'])}")
    console.print(f"  streamed in {summary['duration_s']:.0f} s")
    console.print(f"\n[bold]Report:[/bold] {page.resolve()}  (summary.json next to it)")
