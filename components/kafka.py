"""Kafka on Kubernetes through Strimzi (``kafka.strimzi.io/v1``, KRaft, node pools).

``KafkaCluster`` → a ``Kafka`` plus a controller and a broker ``KafkaNodePool``;
``KafkaTopic`` → a ``KafkaTopic``; ``KafkaUser`` → a ``KafkaUser`` whose ACLs cover exactly one
pipeline's topics and consumer group. Strimzi 1.x serves only ``v1`` (``v1beta2`` was removed), and
the ``strimzi.io/kraft`` / ``strimzi.io/node-pools`` annotations are no longer needed.
"""


from enum import Enum
from typing import NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from helicon.components._k8s import DNS_SUBDOMAIN, check_name, child_opts, labels, metadata
from helicon.components._validate import check_args, fail

STRIMZI_API_VERSION = "kafka.strimzi.io/v1"
PLAIN_PORT = 9092
TLS_PORT = 9093

class Listener(str, Enum):
    """The cluster's one internal listener."""

    TLS_SCRAM = "tls-scram"
    PLAIN = "plain"


class UserAuthentication(str, Enum):
    """``KafkaUser.spec.authentication.type``."""

    SCRAM_SHA_512 = "scram-sha-512"
    TLS = "tls"


class NodePoolArgs(TypedDict):
    """One Strimzi ``KafkaNodePool`` (``spec.replicas``, ``spec.storage``, ``spec.resources``)."""

    replicas: int
    """Number of nodes in the pool (``KafkaNodePool.spec.replicas``); ≥ 1, and ≥ 3 for a quorum that survives a loss."""
    storage_size: NotRequired[str]
    """Persistent volume size per node, e.g. ``"100Gi"`` (default ``"10Gi"``); JBOD volume 0 with ``kraftMetadata: shared``."""
    storage_class: NotRequired[str]
    """StorageClass of the volume claims (default: the cluster's default class)."""
    cpu: NotRequired[str]
    """CPU request and limit per node (default ``"500m"``)."""
    memory: NotRequired[str]
    """Memory request and limit per node (default ``"2Gi"``; request = limit for the JVM)."""


class KafkaClusterArgs(TypedDict):
    """Arguments of :class:`KafkaCluster`."""

    namespace: str
    """Namespace of the ``Kafka`` and its node pools."""
    controllers: NodePoolArgs
    """The KRaft controller pool (``roles: [controller]``); 1 in dev, 3 in production (an odd number)."""
    brokers: NodePoolArgs
    """The broker pool (``roles: [broker]``)."""
    listener: NotRequired[Listener]
    """``"tls-scram"`` (default): one internal listener on 9093 with TLS and SCRAM-SHA-512 authentication and
    ``simple`` authorization, so ``KafkaUser`` ACLs apply. ``"plain"``: one internal listener on 9092, no TLS and
    no authentication — for dev only."""
    kafka_version: NotRequired[str]
    """``spec.kafka.version``, e.g. ``"4.1.0"``; default: the operator's default version."""
    rack_topology_key: NotRequired[str]
    """Node label used for rack awareness (``spec.kafka.rack.topologyKey``, e.g.
    ``"topology.kubernetes.io/zone"``); default: no rack awareness."""
    config: NotRequired[dict[str, str]]
    """Extra broker configuration (``spec.kafka.config``); overrides the replication defaults computed from
    the broker count (``default.replication.factor`` = min(3, brokers), ``min.insync.replicas`` = rf − 1)."""


class KafkaCluster(pulumi.ComponentResource):
    """A KRaft Kafka cluster managed by Strimzi: controller pool, broker pool, ``Kafka`` with entity operators."""

    bootstrap_servers: pulumi.Output[str]
    """``HOST:PORT`` of the bootstrap Service for the cluster's one internal listener."""
    security_protocol: pulumi.Output[str]
    """Kafka client ``security.protocol``: ``SASL_SSL`` for ``tls-scram``, ``PLAINTEXT`` for ``plain``."""
    cluster_name: pulumi.Output[str]
    """``metadata.name`` of the ``Kafka``; topics and users name it in their ``strimzi.io/cluster`` label."""
    cluster_ca_secret: pulumi.Output[str]
    """Secret holding the cluster CA certificate clients trust (``<cluster>-cluster-ca-cert``)."""

    def __init__(self, name: str, args: KafkaClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        validate_kafka_cluster(name, args)
        super().__init__("helicon:kafka:KafkaCluster", name, None, opts)
        namespace = args["namespace"]
        listener = args.get("listener", "tls-scram")
        broker_count = args["brokers"]["replicas"]
        common = labels("kafka", name, "message-broker", args.get("kafka_version"))

        self.controller_pool = _node_pool(f"{name}-controllers", self, cluster=name, namespace=namespace,
                                          pool=args["controllers"], role="controller", object_labels=common)
        self.broker_pool = _node_pool(f"{name}-brokers", self, cluster=name, namespace=namespace,
                                      pool=args["brokers"], role="broker", object_labels=common)

        replication = min(3, broker_count)
        broker_config: dict = {
            "default.replication.factor": replication,
            "min.insync.replicas": max(1, replication - 1),
            "offsets.topic.replication.factor": replication,
            "transaction.state.log.replication.factor": replication,
            "transaction.state.log.min.isr": max(1, replication - 1),
            "auto.create.topics.enable": False,
            **args.get("config", {}),
        }
        kafka_spec: dict = {"listeners": [_listener(listener)], "config": broker_config}
        if "kafka_version" in args:
            kafka_spec["version"] = args["kafka_version"]
        if listener == "tls-scram":
            kafka_spec["authorization"] = {"type": "simple"}
        if "rack_topology_key" in args:
            kafka_spec["rack"] = {"type": "topology-label", "topologyKey": args["rack_topology_key"]}
        self.kafka = k8s.apiextensions.CustomResource(
            name,
            api_version=STRIMZI_API_VERSION,
            kind="Kafka",
            metadata=metadata(name, namespace, common, annotations={"pulumi.com/waitFor": "condition=Ready"}),
            spec={"kafka": kafka_spec, "entityOperator": {"topicOperator": {}, "userOperator": {}}},
            opts=child_opts(self, depends_on=[self.controller_pool, self.broker_pool]),
        )

        port = TLS_PORT if listener == "tls-scram" else PLAIN_PORT
        self.bootstrap_servers = pulumi.Output.from_input(f"{name}-kafka-bootstrap.{namespace}.svc:{port}")
        self.security_protocol = pulumi.Output.from_input("SASL_SSL" if listener == "tls-scram" else "PLAINTEXT")
        self.cluster_name = pulumi.Output.from_input(name)
        self.cluster_ca_secret = pulumi.Output.from_input(f"{name}-cluster-ca-cert")
        self.register_outputs({
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            "cluster_name": self.cluster_name,
            "cluster_ca_secret": self.cluster_ca_secret,
        })


def validate_kafka_cluster(name: str, args: KafkaClusterArgs) -> None:
    """Raise ValueError naming the field when ``args`` cannot make a working cluster."""
    check_args(args, KafkaClusterArgs)
    check_name(name, "KafkaCluster name")
    check_name(args["namespace"], "KafkaClusterArgs.namespace")
    for pool in ("controllers", "brokers"):
        replicas = args[pool]["replicas"]
        if replicas < 1:
            fail(f"KafkaClusterArgs.{pool}.replicas", "must be ≥ 1", replicas)
    controllers = args["controllers"]["replicas"]
    if controllers % 2 == 0:
        fail("KafkaClusterArgs.controllers.replicas", "must be odd (a KRaft quorum needs a majority)", controllers)
    for key in ("default.replication.factor", "min.insync.replicas"):
        value = args.get("config", {}).get(key)
        if value is not None and str(value).isdigit() and int(value) > args["brokers"]["replicas"]:
            fail(f"KafkaClusterArgs.config.{key}", f"must not exceed brokers.replicas ({args['brokers']['replicas']})", value)


def _listener(kind: Listener) -> dict:
    if kind == "plain":
        return {"name": "plain", "port": PLAIN_PORT, "type": "internal", "tls": False}
    return {"name": "tls", "port": TLS_PORT, "type": "internal", "tls": True,
            "authentication": {"type": "scram-sha-512"}}


def _node_pool(resource_name: str, parent: pulumi.Resource, *, cluster: str, namespace: str, pool: NodePoolArgs,
               role: str, object_labels: dict[str, str]) -> k8s.apiextensions.CustomResource:
    volume: dict = {"id": 0, "type": "persistent-claim", "size": pool.get("storage_size", "10Gi"),
                    "kraftMetadata": "shared", "deleteClaim": False}
    if "storage_class" in pool:
        volume["class"] = pool["storage_class"]
    cpu, memory = pool.get("cpu", "500m"), pool.get("memory", "2Gi")
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version=STRIMZI_API_VERSION,
        kind="KafkaNodePool",
        metadata=metadata(resource_name, namespace, {**object_labels, "strimzi.io/cluster": cluster}),
        spec={
            "replicas": pool["replicas"],
            "roles": [role],
            "storage": {"type": "jbod", "volumes": [volume]},
            "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}},
        },
        opts=child_opts(parent),
    )


class KafkaTopicArgs(TypedDict):
    """Arguments of :class:`KafkaTopic`."""

    cluster: str
    """``metadata.name`` of the Strimzi ``Kafka`` (the ``strimzi.io/cluster`` label)."""
    namespace: str
    """Namespace of the ``Kafka``; the Topic Operator watches only that namespace."""
    topic_name: str
    """The Kafka topic name (``spec.topicName``), e.g. ``"fraud.features"``; dots are allowed."""
    partitions: NotRequired[int]
    """``spec.partitions`` (default 3); the ceiling of a consumer group's parallelism."""
    replicas: NotRequired[int]
    """``spec.replicas`` (default 3); must not exceed the broker count."""
    config: NotRequired[dict[str, str]]
    """Topic configuration (``spec.config``), e.g. ``{"retention.ms": "604800000"}``."""


class KafkaTopic(pulumi.ComponentResource):
    """A Strimzi-managed Kafka topic."""

    topic_name: pulumi.Output[str]
    """The Kafka topic name clients use."""

    def __init__(self, name: str, args: KafkaTopicArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        check_args(args, KafkaTopicArgs)
        check_name(name, "KafkaTopic name", DNS_SUBDOMAIN, 253)
        if not args["topic_name"] or any(ch not in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
                                         for ch in args["topic_name"]):
            fail("KafkaTopicArgs.topic_name", "must be letters, digits, '.', '_' or '-'", args["topic_name"])
        for field, default in (("partitions", 3), ("replicas", 3)):
            if args.get(field, default) < 1:
                fail(f"KafkaTopicArgs.{field}", "must be ≥ 1", args.get(field))
        super().__init__("helicon:kafka:KafkaTopic", name, None, opts)
        self.topic = k8s.apiextensions.CustomResource(
            name,
            api_version=STRIMZI_API_VERSION,
            kind="KafkaTopic",
            metadata=metadata(name, args["namespace"], {
                **labels("kafka-topic", name, "topic"), "strimzi.io/cluster": args["cluster"]}),
            spec={"topicName": args["topic_name"], "partitions": args.get("partitions", 3),
                  "replicas": args.get("replicas", 3), "config": dict(args.get("config", {}))},
            opts=child_opts(self),
        )
        self.topic_name = pulumi.Output.from_input(args["topic_name"])
        self.register_outputs({"topic_name": self.topic_name})


class KafkaUserArgs(TypedDict):
    """Arguments of :class:`KafkaUser`: one pipeline stage's identity and exactly the access it needs."""

    cluster: str
    """``metadata.name`` of the Strimzi ``Kafka``."""
    namespace: str
    """Namespace of the ``Kafka``; the Secret with the credentials is created there, named like the user."""
    read_topics: list[str]
    """Topics the user consumes (ACLs ``Read``, ``Describe``; literal names, no prefixes)."""
    write_topics: list[str]
    """Topics the user produces to (ACLs ``Write``, ``Describe``)."""
    group: str
    """The one consumer group the user may join (ACL ``Read`` on the group)."""
    authentication: NotRequired[UserAuthentication]
    """``spec.authentication.type`` (default ``"scram-sha-512"``, matching the ``tls-scram`` listener)."""


class KafkaUser(pulumi.ComponentResource):
    """A Strimzi ``KafkaUser`` with ACLs scoped to a pipeline's topics and consumer group."""

    username: pulumi.Output[str]
    """The SASL username (= the ``KafkaUser`` name)."""
    secret_name: pulumi.Output[str]
    """The Secret the User Operator writes the credentials to (key ``password``, plus ``sasl.jaas.config``)."""

    def __init__(self, name: str, args: KafkaUserArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        check_args(args, KafkaUserArgs)
        check_name(name, "KafkaUser name", DNS_SUBDOMAIN, 253)
        if not args["read_topics"] and not args["write_topics"]:
            fail("KafkaUserArgs.read_topics", "and write_topics are both empty: the user could do nothing")
        if not args["group"]:
            fail("KafkaUserArgs.group", "must name a consumer group", args["group"])
        super().__init__("helicon:kafka:KafkaUser", name, None, opts)
        acls = [_acl("topic", topic, ["Read", "Describe"]) for topic in args["read_topics"]]
        acls += [_acl("topic", topic, ["Write", "Describe"]) for topic in args["write_topics"]]
        acls.append(_acl("group", args["group"], ["Read"]))
        self.user = k8s.apiextensions.CustomResource(
            name,
            api_version=STRIMZI_API_VERSION,
            kind="KafkaUser",
            metadata=metadata(name, args["namespace"], {
                **labels("kafka-user", name, "identity"), "strimzi.io/cluster": args["cluster"]}),
            spec={"authentication": {"type": args.get("authentication", "scram-sha-512")},
                  "authorization": {"type": "simple", "acls": acls}},
            opts=child_opts(self),
        )
        self.username = pulumi.Output.from_input(name)
        self.secret_name = pulumi.Output.from_input(name)
        self.register_outputs({"username": self.username, "secret_name": self.secret_name})


def _acl(resource_type: str, resource_name: str, operations: list[str]) -> dict:
    return {"resource": {"type": resource_type, "name": resource_name, "patternType": "literal"},
            "operations": operations}
