"""Serving: one ServingArgs, two implementations (Seldon Core v2, KServe), and the Seldon building blocks."""

from __future__ import annotations

import pytest

from helicon.components.serving import SeldonExperiment, SeldonPipeline, SeldonServing, serving
from helicon.infra.policy.rules import violations
from tests.iac.harness import run, uses_provider, with_provider

ARGS = {"namespace": "ml", "model_name": "fraud-model", "storage_uri": "s3://models/fraud/1", "replicas": 2,
        "canary": {"storage_uri": "s3://models/fraud/2", "weight": 10, "mirror_percent": 50}}


def test_seldon_canary_is_a_candidate_model_and_an_experiment_with_weights_and_mirror() -> None:
    result = run(lambda: {"uri": SeldonServing("fraud", ARGS, with_provider()).inference_uri})
    stable = result.spec("mlops.seldon.io/v1alpha1:Model", "fraud-stable")["spec"]
    assert stable == {"storageUri": "s3://models/fraud/1", "requirements": ["mlflow"], "replicas": 2, "memory": "1Gi"}
    assert result.spec("Model", "fraud-candidate")["spec"]["storageUri"] == "s3://models/fraud/2"
    experiment = result.find("Experiment", "fraud-experiment").inputs
    assert experiment["metadata"]["name"] == "fraud-model-canary"
    experiment = experiment["spec"]
    assert experiment == {"default": "fraud-model", "resourceType": "model",
                          "candidates": [{"name": "fraud-model", "weight": 90},
                                         {"name": "fraud-model-candidate", "weight": 10}],
                          "mirror": {"name": "fraud-model-candidate", "percent": 50}}
    assert all(uses_provider(r) for r in result.registrations if r.custom and r.type_token.startswith("kubernetes:mlops"))
    assert result.outputs == {"uri": "oip+http://seldon-mesh.ml.svc:80/v2/models/fraud-model"}


def test_kserve_takes_the_same_args_and_splits_traffic_with_canary_percent() -> None:
    args = {**ARGS, "canary": {"storage_uri": "s3://models/fraud/2", "weight": 10}}
    result = run(lambda: {"uri": serving("kserve", "fraud", args).inference_uri})
    predictor = result.spec("serving.kserve.io/v1beta1:InferenceService", "fraud-isvc")["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    assert predictor["model"]["storageUri"] == "s3://models/fraud/2"
    assert predictor["model"]["modelFormat"] == {"name": "mlflow"} and predictor["model"]["protocolVersion"] == "v2"
    assert predictor["minReplicas"] == 2
    token = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
    props = result.spec(token, "fraud-isvc")
    assert violations(token, props, "prod") == []
    props["spec"]["predictor"]["model"]["securityContext"]["allowPrivilegeEscalation"] = True
    assert [rule for rule, _ in violations(token, props, "prod")] == ["non-root"]
    assert result.outputs == {"uri": "oip+http://fraud-model-predictor.ml.svc:80/v2/models/fraud-model"}


def test_without_canary_seldon_registers_only_the_model() -> None:
    result = run(lambda: SeldonServing("fraud", {**ARGS, "canary": None}) and None)
    assert [(r.name, r.inputs["metadata"]["name"]) for r in result.registrations if r.custom] == [("fraud-stable", "fraud-model")]


@pytest.mark.parametrize(("backend", "change", "message"), [
    ("kserve", {}, r"ServingArgs\.canary\.mirror_percent is not supported by KServe"),
    ("seldon", {"storage_uri": "models:/fraud/1"}, r"ServingArgs\.storage_uri must start with one of s3://"),
    ("seldon", {"canary": {"storage_uri": "s3://x", "weight": 100}}, r"ServingArgs\.canary\.weight must be between 1 and 99"),
    ("kserve", {"model_format": "onnx"}, r"ServingArgs\.model_format must be one of mlflow"),
])
def test_bad_serving_args_name_the_field(backend, change, message) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=message):
        run(lambda: serving(backend, "fraud", {**ARGS, **change}) and None)


def test_pipeline_chains_steps_and_experiment_checks_its_candidates() -> None:
    result = run(lambda: SeldonPipeline("score", {"namespace": "ml", "steps": ["features", "fraud"]}) and None)
    assert result.spec("Pipeline", "score")["spec"] == {
        "steps": [{"name": "features"}, {"name": "fraud", "inputs": ["features"]}], "output": {"steps": ["fraud"]}}
    with pytest.raises(ValueError, match=r"SeldonExperimentArgs\.default must be one of the candidates"):
        run(lambda: SeldonExperiment("x", {"namespace": "ml", "default": "c",
                                           "candidates": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}]}))
