"""KafkaCluster, KafkaTopic and KafkaUser: what they register, for dev and production shapes."""

from __future__ import annotations

import pytest

from helicon.components.kafka import KafkaCluster, KafkaTopic, KafkaUser
from tests.iac.harness import run, uses_provider, with_provider

PROD = {"namespace": "data", "listener": "tls-scram", "rack_topology_key": "topology.kubernetes.io/zone",
        "controllers": {"replicas": 3, "storage_size": "20Gi"},
        "brokers": {"replicas": 3, "storage_size": "100Gi", "storage_class": "fast", "cpu": "2", "memory": "8Gi"}}


def test_production_cluster_is_kraft_node_pools_with_tls_scram_and_rack_awareness() -> None:
    def build():
        cluster = KafkaCluster("events", PROD, with_provider())
        return {"bootstrap": cluster.bootstrap_servers, "protocol": cluster.security_protocol,
                "ca": cluster.cluster_ca_secret}

    result = run(build)
    kafka = result.spec("kafka.strimzi.io/v1:Kafka", "events")
    assert kafka["apiVersion"] == "kafka.strimzi.io/v1"
    assert kafka["spec"]["kafka"]["listeners"] == [{"name": "tls", "port": 9093, "type": "internal", "tls": True,
                                                    "authentication": {"type": "scram-sha-512"}}]
    assert kafka["spec"]["kafka"]["authorization"] == {"type": "simple"}
    assert kafka["spec"]["kafka"]["rack"] == {"type": "topology-label", "topologyKey": "topology.kubernetes.io/zone"}
    config = kafka["spec"]["kafka"]["config"]
    assert (config["default.replication.factor"], config["min.insync.replicas"]) == (3, 2)
    assert "replicas" not in kafka["spec"]["kafka"] and "zookeeper" not in kafka["spec"]
    assert kafka["metadata"]["labels"]["app.kubernetes.io/part-of"] == "helicon"

    brokers = result.spec("KafkaNodePool", "events-brokers")
    assert brokers["metadata"]["labels"]["strimzi.io/cluster"] == "events"
    assert brokers["spec"]["roles"] == ["broker"] and brokers["spec"]["replicas"] == 3
    assert brokers["spec"]["storage"]["volumes"][0] == {"id": 0, "type": "persistent-claim", "size": "100Gi",
                                                        "class": "fast", "kraftMetadata": "shared", "deleteClaim": False}
    assert brokers["spec"]["resources"]["limits"] == {"cpu": "2", "memory": "8Gi"}
    assert result.spec("KafkaNodePool", "events-controllers")["spec"]["roles"] == ["controller"]

    for name in ("events", "events-brokers", "events-controllers"):
        assert uses_provider(result.find("kubernetes:kafka.strimzi.io/v1:" + ("Kafka" if name == "events" else "KafkaNodePool"), name))
    assert result.outputs == {"bootstrap": "events-kafka-bootstrap.data.svc:9093", "protocol": "SASL_SSL",
                              "ca": "events-cluster-ca-cert"}


def test_dev_cluster_has_one_plain_listener_and_replication_one() -> None:
    result = run(lambda: {"bootstrap": KafkaCluster("dev", {
        "namespace": "d", "listener": "plain", "controllers": {"replicas": 1}, "brokers": {"replicas": 1}}).bootstrap_servers})
    spec = result.spec("Kafka", "dev")["spec"]["kafka"]
    assert spec["listeners"] == [{"name": "plain", "port": 9092, "type": "internal", "tls": False}]
    assert "authorization" not in spec
    assert spec["config"]["default.replication.factor"] == 1 and spec["config"]["min.insync.replicas"] == 1
    assert result.outputs["bootstrap"] == "dev-kafka-bootstrap.d.svc:9092"


@pytest.mark.parametrize(("change", "message"), [
    (lambda a: a["brokers"].update(replicas=0), r"KafkaClusterArgs\.brokers\.replicas must be ≥ 1 \(got 0\)"),
    (lambda a: a["controllers"].update(replicas=2), r"KafkaClusterArgs\.controllers\.replicas must be odd"),
    (lambda a: a["brokers"].update(replica=3), r"KafkaClusterArgs\.brokers\.replica is not a field of NodePoolArgs"),
    (lambda a: a.update(listener="ssl"), r"KafkaClusterArgs\.listener must be one of tls-scram, plain \(got 'ssl'\)"),
    (lambda a: a.update(config={"min.insync.replicas": "5"}), r"KafkaClusterArgs\.config\.min\.insync\.replicas must not exceed"),
    (lambda a: a.pop("namespace"), r"KafkaClusterArgs\.namespace is required"),
])
def test_bad_cluster_args_fail_before_anything_is_registered(change, message) -> None:  # noqa: ANN001
    args = {**PROD, "controllers": dict(PROD["controllers"]), "brokers": dict(PROD["brokers"])}
    change(args)
    registered = []
    with pytest.raises(ValueError, match=message):
        run(lambda: registered.append(KafkaCluster("events", args)))
    assert registered == []


def test_user_acls_cover_exactly_the_pipelines_topics_and_group() -> None:
    result = run(lambda: {"secret": KafkaUser("fraud-bridge", {
        "cluster": "events", "namespace": "data", "read_topics": ["fraud.features"],
        "write_topics": ["fraud.predictions", "fraud.dlq"], "group": "fraud-bridge"}).secret_name})
    spec = result.spec("KafkaUser", "fraud-bridge")["spec"]
    assert spec["authentication"] == {"type": "scram-sha-512"}
    acls = {(acl["resource"]["type"], acl["resource"]["name"], acl["resource"]["patternType"]): acl["operations"]
            for acl in spec["authorization"]["acls"]}
    assert acls == {("topic", "fraud.features", "literal"): ["Read", "Describe"],
                    ("topic", "fraud.predictions", "literal"): ["Write", "Describe"],
                    ("topic", "fraud.dlq", "literal"): ["Write", "Describe"],
                    ("group", "fraud-bridge", "literal"): ["Read"]}
    assert result.outputs == {"secret": "fraud-bridge"}


def test_topic_carries_its_kafka_name_partitions_and_config() -> None:
    result = run(lambda: {"topic": KafkaTopic("fraud-features", {
        "cluster": "events", "namespace": "data", "topic_name": "fraud.features", "partitions": 12,
        "replicas": 3, "config": {"retention.ms": "604800000"}}).topic_name})
    topic = result.spec("KafkaTopic", "fraud-features")
    assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "events"
    assert topic["spec"] == {"topicName": "fraud.features", "partitions": 12, "replicas": 3,
                             "config": {"retention.ms": "604800000"}}
    assert result.outputs == {"topic": "fraud.features"}
    with pytest.raises(ValueError, match=r"KafkaTopicArgs\.topic_name must be letters"):
        run(lambda: KafkaTopic("bad", {"cluster": "e", "namespace": "d", "topic_name": "a b"}))
