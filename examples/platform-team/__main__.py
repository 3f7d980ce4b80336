"""A platform team's own Pulumi program: two pipelines on Helicon (pip install 'helicon[iac]')."""

import pulumi

from helicon.components.platform import HeliconPlatform

config = pulumi.Config()
platform = HeliconPlatform("acme", {
    "environment": "prod", "namespace": "ml-prod", "image": "ghcr.io/helicon/helicon-runtime:0.1.0",
    "kafka": {"controllers": {"replicas": 3}, "brokers": {"replicas": 3, "storage_size": "200Gi"}},
    "mlflow": {"image": "ghcr.io/mlflow/mlflow:v3.4.0", "artifacts_destination": "s3://acme-mlflow", "replicas": 2},
    "secrets": {"mlflow_backend_store_uri": config.require_secret("mlflowDb"),
                "s3_access_key_id": config.require_secret("s3KeyId"),
                "s3_secret_access_key": config.require_secret("s3Key")},
    "pipelines": [
        {"name": "fraud", "model": {"storage_uri": "s3://acme-mlflow/1/models/m-7/artifacts", "replicas": 2},
         "bridge": {"replicas": 2, "autoscaling": {"kind": "keda", "max_replicas": 6}}, "drift": {"replicas": 2}},
        {"name": "churn", "model": {"storage_uri": "s3://acme-mlflow/2/models/m-3/artifacts", "replicas": 2},
         "bridge": {"replicas": 2}},
    ],
})
pulumi.export("bootstrap_servers", platform.bootstrap_servers)
