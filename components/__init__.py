"""Pulumi component resources that platform teams compose (``pip install 'helicon[iac]'``).

Kafka (Strimzi), model serving (Seldon Core v2 / KServe), MLflow, streaming jobs and Helicon's
runtime workloads arrive here with the IaC issue.
"""
