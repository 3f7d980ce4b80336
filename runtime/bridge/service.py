"""The bridge's scoring loop: consume a micro-batch, decode, route, predict, produce, then commit.

Stages, each in its own module: :mod:`.source` (consumer) → :mod:`.codec` (decode/validate) →
:mod:`.router` and :mod:`.backends` (scoring) → :mod:`.sink` (producer, DLQ) → :mod:`.offsets`
(the delivery mode). A model swap after an alias moved happens only between batches; so do the
canary's start and stop when the challenger's alias appears or is deleted. With
``canary.promotion``, :mod:`.feedback` and :mod:`.promotion` join labels to the bridge's own
predictions and promote a challenger whose joined error is lower.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException, Message

from helicon.runtime.bridge.backends import AliasDeleted, ModelBackend, RegistryModel, RegistryWatcher, open_backend
from helicon.runtime.bridge.backends.mlflow_registry import alias_version, parse_registry_uri, promote_alias
from helicon.runtime.bridge.codec import EventCodec, Rejection
from helicon.runtime.bridge.feedback import FeedbackSource
from helicon.runtime.bridge.health import HealthServer
from helicon.runtime.bridge.metrics import BridgeMetrics
from helicon.runtime.bridge.offsets import AtLeastOnce, ExactlyOnce
from helicon.runtime.bridge.promotion import Decision, PromotionJudge
from helicon.runtime.bridge.router import CanaryRouter
from helicon.runtime.bridge.settings import BridgeSettings, Delivery
from helicon.runtime.bridge.sink import DeliveryFailed, ShutdownTimeout, Sink
from helicon.runtime.bridge.source import Source, next_offsets
from helicon.runtime.contracts import FeatureEvent, encode_prediction, now_ms

logger = logging.getLogger(__name__)

CHAMPION, CHALLENGER, SHADOW = "champion", "challenger", "shadow"


_PROMOTION_RETRY_S = 5.0


@dataclass
class ModelSlot:
    """The model serving one role now (the watchers in ``Bridge.watchers`` replace it when its alias moves)."""

    role: str
    backend: ModelBackend


@dataclass
class _Scored:
    message: Message
    event: FeatureEvent
    prediction: Any = None


@dataclass
class BatchOutcome:
    """What one batch did (for tests and logs)."""

    scored: int = 0
    dead_lettered: int = 0
    roles: dict[str, int] = field(default_factory=dict)


class Bridge:
    """Scores feature events with the configured model(s) until :meth:`stop` is called.

    ``backend_factory`` opens a model URI (default :func:`open_backend`); tests and embedders may
    pass their own.
    """

    def __init__(self, settings: BridgeSettings,
                 backend_factory: Callable[[str], ModelBackend] | None = None) -> None:
        self.settings = settings
        open_model = backend_factory or (lambda uri: open_backend(uri, settings.oip_timeout_s))
        self.metrics = BridgeMetrics()
        self.slots: dict[str, ModelSlot] = {}
        self.watchers: dict[str, RegistryWatcher] = {}
        self._add_role(CHAMPION, settings.model_uri, open_model)
        if settings.canary is not None:
            self._add_role(CHALLENGER, settings.canary.model, open_model, may_be_absent=True)
        if settings.shadow is not None:
            self._add_role(SHADOW, settings.shadow.model, open_model)
        promotion = settings.canary.promotion if settings.canary is not None else None
        self.judge = PromotionJudge(promotion) if promotion is not None else None
        self._feedback = (FeedbackSource(settings.bootstrap, f"{settings.group}-promotion", promotion.feedback_topic)
                          if promotion is not None else None)
        self._next_promotion_try = 0.0
        self._sync_judge()
        self._router = CanaryRouter(settings.canary.share) if settings.canary is not None else None
        self._codec = EventCodec(settings.max_event_bytes, settings.strict_features)
        self._stopping = threading.Event()
        exactly_once = settings.delivery is Delivery.EXACTLY_ONCE
        self._source = Source(settings.bootstrap, settings.group, settings.input_topic, read_committed=exactly_once,
                              on_lag=self.metrics.lag, session_timeout_ms=settings.session_timeout_ms)
        transactional_id = (settings.transactional_id or f"{settings.group}-{settings.input_topic}") if exactly_once else None
        self._sink = Sink(settings.bootstrap, settings.dlq_topic, transactional_id)
        self._delivery = ExactlyOnce(self._source, self._sink) if exactly_once else AtLeastOnce(self._source, self._sink)
        self.health: HealthServer | None = None
        if settings.http_port is not None:
            self.health = HealthServer(settings.http_host, settings.http_port, self.metrics.registry, self.ready)
        self.scored = 0
        self.dead_lettered = 0

    def _add_role(self, role: str, uri: str, open_model: Callable[[str], ModelBackend],
                  may_be_absent: bool = False) -> None:
        """Open ``role``'s model; a missing alias is watched until it appears if ``may_be_absent``."""
        if may_be_absent and uri.startswith("models:/"):
            name, alias, _ = parse_registry_uri(uri)
            if alias is not None and alias_version(name, alias) is None:
                logger.warning("challenger alias not found; serving the champion only until it appears",
                               extra={"role": role, "model": name, "alias": alias})
                self.watchers[role] = RegistryWatcher(uri, self.settings.alias_poll_s)
                return
        backend = open_model(uri)
        if isinstance(backend, RegistryModel) and backend.alias is not None:
            self.watchers[role] = RegistryWatcher(backend, self.settings.alias_poll_s)
        self.slots[role] = ModelSlot(role, backend)
        self.metrics.serving(role, backend.ref.name, backend.ref.version)

    def ready(self) -> bool:
        """Models loaded, partitions assigned, not stopping."""
        return self._source.assigned and not self._stopping.is_set()

    def stop(self) -> None:
        """Finish the current batch, commit, and return from :meth:`run`."""
        self._stopping.set()

    def run(self) -> None:
        """The scoring loop; returns after :meth:`stop`, with every consumed event's outputs committed."""
        self._source.subscribe()
        for watcher in self.watchers.values():
            watcher.start()
        if self.health is not None:
            self.health.start()
        logger.info("bridge started", extra={
            "input": self.settings.input_topic, "output": self.settings.output_topic,
            "delivery": self.settings.delivery.value, "http_port": self.health.port if self.health else None,
            "models": {role: f"{slot.backend.ref.name}/{slot.backend.ref.version}" for role, slot in self.slots.items()},
            "waiting_for": [f"{role}:{watcher.alias}" for role, watcher in self.watchers.items() if role not in self.slots],
            "promotion": self._feedback.topic if self._feedback is not None else None})
        try:
            while not self._stopping.is_set():
                if self.health is not None:
                    self.health.beat()
                self._swap_models()
                messages = self._source.batch(self.settings.batch_size, self.settings.max_wait_ms / 1000)
                if messages:
                    self._process(messages)
                self._delivery.tick()
                self._judge_feedback()
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        deadline = time.monotonic() + self.settings.shutdown_timeout_s
        for watcher in self.watchers.values():
            watcher.stop()
        try:
            self._delivery.drain(deadline)
        except (ShutdownTimeout, DeliveryFailed, KafkaException) as error:
            logger.error("outputs not all acknowledged at shutdown; their offsets stay uncommitted",
                         extra={"error": str(error)})
        self._source.close()
        if self._feedback is not None:
            self._feedback.close()
        for slot in self.slots.values():
            slot.backend.close()
        if self.health is not None:
            self.health.stop()
        logger.info("bridge stopped", extra={"scored": self.scored, "dead_lettered": self.dead_lettered})

    def _swap_models(self) -> None:
        for role, watcher in self.watchers.items():
            change = watcher.take()
            if change is None:
                continue
            if isinstance(change, AliasDeleted):
                self._alias_deleted(role, change)
                continue
            previous = self.slots.get(role)
            self.slots[role] = ModelSlot(role, change)
            self.metrics.serving(role, change.ref.name, change.ref.version)
            if previous is None:
                logger.info("canary started", extra={"role": role, "model": change.ref.name, "version": change.ref.version})
                continue
            previous.backend.close()
            self.metrics.model_swaps.labels(role).inc()
            logger.info("model swapped", extra={"role": role, "model": change.ref.name,
                                                "from_version": previous.backend.ref.version, "to_version": change.ref.version})
        self._sync_judge()

    def _alias_deleted(self, role: str, deleted: AliasDeleted) -> None:
        if role == CHAMPION:
            logger.warning("champion alias deleted; still serving the version it named",
                           extra={"model": deleted.name, "alias": deleted.alias, "version": deleted.version})
            return
        slot = self.slots.pop(role, None)
        if slot is None:
            return
        slot.backend.close()
        self.metrics.not_serving(role)
        logger.info("canary stopped" if role == CHALLENGER else "shadow stopped", extra={
            "role": role, "model": deleted.name, "alias": deleted.alias, "version": deleted.version})

    def _sync_judge(self) -> None:
        """A new measuring period whenever the champion or the challenger changed."""
        if self.judge is None:
            return
        challenger = self.slots.get(CHALLENGER)
        epoch = self.judge.epoch
        self.judge.reset(self.slots[CHAMPION].backend.ref.version,
                         challenger.backend.ref.version if challenger is not None else None)
        if self.judge.epoch != epoch:
            self._export_judge()

    def _export_judge(self) -> None:
        assert self.judge is not None
        for role, window in self.judge.windows.items():
            self.metrics.joined_events.labels(role).set(window.joined)
            self.metrics.joined_error.labels(role).set(window.rate)  # NaN until the role's first join

    def _judge_feedback(self) -> None:
        if self._feedback is None or self.judge is None:
            return
        labels = self._feedback.poll()
        now = now_ms()
        for label in labels:
            self.judge.labelled(label.id, label.label, now)
        self.judge.join.expire(now)
        if not labels:
            return
        self._export_judge()
        if time.monotonic() < self._next_promotion_try:
            return
        decision = self.judge.decide()
        if decision is not None:
            self._promote(decision)

    def _promote(self, decision: Decision) -> None:
        """Move the aliases (idempotently), then serve the challenger as champion from the next batch."""
        assert self.settings.canary is not None and self.judge is not None
        name, champion_alias, _ = parse_registry_uri(self.settings.model_uri)
        _, challenger_alias, _ = parse_registry_uri(self.settings.canary.model)
        champion = self.slots[CHAMPION].backend
        try:
            moved = promote_alias(name, champion_alias or "", challenger_alias or "", decision.version)
        except Exception as error:  # noqa: BLE001 - the registry may be down; decide again later
            logger.warning("promotion failed; will try again", extra={"model": name, "version": decision.version,
                                                                      "error": repr(error)})
            self._next_promotion_try = time.monotonic() + _PROMOTION_RETRY_S
            self.judge.retry()
            return
        if not moved:
            logger.info("promotion not needed: the aliases already moved", extra={
                "model": name, "version": decision.version})
            for watcher in self.watchers.values():
                watcher.poke()
            return
        self.metrics.promotions.inc()
        logger.info("model promoted", extra={
            "model": name, "from_version": champion.ref.version, "to_version": decision.version,
            "champion_alias": champion_alias, "challenger_alias": challenger_alias,
            "challenger_error": decision.challenger_error, "champion_error": decision.champion_error,
            "challenger_joined": decision.challenger_joined, "champion_joined": decision.champion_joined,
            "margin": self.settings.canary.promotion.margin if self.settings.canary.promotion else None})
        self._hand_over(decision.version)

    def _hand_over(self, version: str) -> None:
        """The promoted challenger's loaded model becomes the champion at once, in this replica."""
        challenger = self.slots.get(CHALLENGER)
        if challenger is None or challenger.backend.ref.version != version:
            for watcher in self.watchers.values():
                watcher.poke()
            return
        previous = self.slots[CHAMPION].backend
        self.slots[CHAMPION] = ModelSlot(CHAMPION, challenger.backend)
        del self.slots[CHALLENGER]
        if CHAMPION in self.watchers:
            self.watchers[CHAMPION].assume(version)
        self.watchers[CHALLENGER].assume(None)
        previous.close()
        self.metrics.serving(CHAMPION, challenger.backend.ref.name, version)
        self.metrics.not_serving(CHALLENGER)
        self.metrics.model_swaps.labels(CHAMPION).inc()
        logger.info("model swapped", extra={"role": CHAMPION, "model": challenger.backend.ref.name,
                                            "from_version": previous.ref.version, "to_version": version})
        self._sync_judge()

    def _process(self, messages: list[Message]) -> None:
        starts, ends = next_offsets(messages)
        self.metrics.events_in.inc(len(messages))
        self.metrics.batch_size.observe(len(messages))
        try:
            self._delivery.begin()
            outcome = self._transform(messages)
            deadline = time.monotonic() + self.settings.shutdown_timeout_s if self._stopping.is_set() else None
            self._delivery.complete(ends, deadline)
        except KafkaException as error:
            if error.args and error.args[0].fatal():
                raise
            logger.error("batch not delivered; reading it again", extra={"error": str(error)})
            self._delivery.abandon(starts)
            return
        self.scored += outcome.scored
        self.dead_lettered += outcome.dead_lettered

    def _transform(self, messages: list[Message]) -> BatchOutcome:
        outcome = BatchOutcome()
        champion = self.slots[CHAMPION]
        groups: dict[str, list[_Scored]] = {CHAMPION: [], CHALLENGER: []}
        for message in messages:
            decoded = self._codec.decode(message.value(), champion.backend.features)
            if isinstance(decoded, Rejection):
                self._dead_letter(message, "decode", decoded.error_class, decoded.reason, outcome)
                continue
            role = CHAMPION
            if self._router is not None and CHALLENGER in self.slots and self._router.to_challenger(message.key() or decoded.id.encode()):
                role = CHALLENGER
            groups[role].append(_Scored(message, decoded))
        for role, items in groups.items():
            if items:
                self._score_and_produce(self.slots[role], items, self.settings.output_topic, outcome)
        if SHADOW in self.slots and self.settings.shadow is not None:
            shadowed = [_Scored(item.message, item.event) for items in groups.values() for item in items]
            if shadowed:
                self._score_and_produce(self.slots[SHADOW], shadowed, self.settings.shadow.topic, outcome,
                                        dead_letter_failures=False)
        return outcome

    def _score_and_produce(self, slot: ModelSlot, items: list[_Scored], topic: str, outcome: BatchOutcome,
                           dead_letter_failures: bool = True) -> None:
        backend = slot.backend
        started = time.perf_counter()
        answered, failed = self._predict_with_retries(slot, items)
        elapsed = time.perf_counter() - started
        self.metrics.predict_latency.labels(slot.role).observe(elapsed)
        latency_ms = elapsed * 1000 / max(1, len(items))
        produced_at = now_ms()
        judge = self.judge if slot.role != SHADOW else None
        for item in answered:
            self._sink.produce(topic, key=item.event.id.encode(),
                               value=encode_prediction(item.event.id, backend.ref, item.prediction, latency_ms,
                                                       role=slot.role))
            if item.event.ts is not None and slot.role != SHADOW:
                self.metrics.end_to_end_latency.observe(max(0.0, (produced_at - item.event.ts) / 1000))
            if judge is not None:
                judge.predicted(item.event.id, slot.role, backend.ref.version, item.prediction, produced_at)
        self.metrics.predictions_out.labels(slot.role, backend.ref.name, backend.ref.version).inc(len(answered))
        if slot.role != SHADOW:
            outcome.scored += len(answered)
            outcome.roles[slot.role] = outcome.roles.get(slot.role, 0) + len(answered)
        for item, error in failed:
            if dead_letter_failures:
                reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
                self._dead_letter(item.message, "predict", error.__class__.__name__, f"{backend.ref.name}/{backend.ref.version}: {reason}", outcome)
            else:
                logger.warning("shadow model failed", extra={"offset": item.message.offset(), "error": repr(error)})

    def _predict_with_retries(self, slot: ModelSlot, items: list[_Scored]) -> tuple[list[_Scored], list[tuple[_Scored, Exception]]]:
        """Try the batch ``predict_attempts`` times with doubling backoff; then each event alone, once."""
        rows = [item.event.features for item in items]
        error: Exception | None = None
        for attempt in range(self.settings.predict_attempts):
            if attempt:
                self.metrics.predict_retries.labels(slot.role).inc()
                time.sleep(self.settings.retry_backoff_ms / 1000 * 2 ** (attempt - 1))
            try:
                predictions = slot.backend.predict(rows)
                if len(predictions) != len(items):
                    raise ValueError(f"model returned {len(predictions)} predictions for {len(items)} events")
            except Exception as caught:  # noqa: BLE001 - any model failure is retried, then isolated
                error = caught
                continue
            for item, prediction in zip(items, predictions):
                item.prediction = prediction
            return items, []
        logger.warning("model failed after retries; isolating events", extra={
            "role": slot.role, "events": len(items), "attempts": self.settings.predict_attempts, "error": repr(error)})
        if len(items) == 1:
            return [], [(items[0], error or RuntimeError("prediction failed"))]
        answered, failed = [], []
        for item in items:
            try:
                (item.prediction,) = slot.backend.predict([item.event.features])
                answered.append(item)
            except Exception as caught:  # noqa: BLE001 - the one bad event is dead-lettered below
                failed.append((item, caught))
        return answered, failed

    def _dead_letter(self, message: Message, stage: str, error_class: str, reason: str, outcome: BatchOutcome) -> None:
        self._sink.dead_letter(message, stage, error_class, reason)
        self.metrics.dead_letters.labels(stage, error_class).inc()
        outcome.dead_lettered += 1
