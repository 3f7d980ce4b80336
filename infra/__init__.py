"""What Helicon's components stand on.

``helicon.infra.local`` is the local platform: the same platform on one machine (a real Kafka
broker, a real MLflow server, an S3 API endpoint). It needs no Pulumi. The Kubernetes foundations
(operator installs, namespaces, the provider, naming and labels) live beside it and need the
``iac`` extra.
"""
