"""The first model: a logistic regression on the first concept, registered with alias ``champion``."""

from __future__ import annotations

from dataclasses import dataclass

from helicon.runtime.demo.drifting_stream import FEATURES
from helicon.runtime.demo.scenario import Scenario, sklearn_requirements


@dataclass(frozen=True)
class InitialModel:
    name: str
    version: str
    holdout_accuracy: float


def train_initial_model(tracking_uri: str, model_name: str, scenario: Scenario, experiment: str = "helicon-demo") -> InitialModel:
    """Train on :meth:`Scenario.training_stream`, log to MLflow, register, alias ``champion``;
    drops a stale ``challenger`` alias left by an earlier run, so the bridge starts with none."""
    import mlflow
    import mlflow.sklearn
    import pandas as pd
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    rows = list(scenario.training_stream())
    frame = pd.DataFrame.from_records([row.features for row in rows], columns=list(FEATURES))
    labels = [row.label for row in rows]
    split = int(len(rows) * 0.75)
    estimator = LogisticRegression().fit(frame[:split], labels[:split])
    accuracy = float(estimator.score(frame[split:], labels[split:]))
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"{model_name}-initial"):
        mlflow.log_params({"estimator": "LogisticRegression", "concept": "C1", "seed": scenario.seed})
        mlflow.log_metric("holdout_accuracy", accuracy)
        info = mlflow.sklearn.log_model(estimator, name="model", registered_model_name=model_name,
                                        signature=infer_signature(frame, estimator.predict(frame)),
                                            pip_requirements=sklearn_requirements())
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient(tracking_uri)
    client.set_registered_model_alias(model_name, "champion", version)
    try:
        client.delete_registered_model_alias(model_name, "challenger")
    except MlflowException:
        pass  # no challenger: the usual case
    return InitialModel(model_name, version, accuracy)
