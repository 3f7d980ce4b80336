"""An S3 API endpoint on loopback (moto in server mode), for what the runtime stores through boto3.

Moto keeps objects in memory: they last until ``helicon local down``. The bucket
:data:`DEFAULT_BUCKET` exists from start-up on.
"""

from __future__ import annotations

import sys

from helicon.infra.local.ports import LOOPBACK
from helicon.infra.local.services.base import LocalService

DEFAULT_BUCKET = "helicon"
#: Moto accepts any credentials; clients still need some to sign requests.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "helicon", "AWS_SECRET_ACCESS_KEY": "helicon-local", "AWS_DEFAULT_REGION": "us-east-1"}


class S3Server(LocalService):
    """Moto's standalone server, with the default bucket created once it answers."""

    name = "s3"
    port_names = ("port",)
    endpoint_key = "endpoint"
    default_ports = {"port": 9000}
    startup_timeout_seconds = 60.0

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(self.port)]

    def probe(self, timeout: float) -> bool:
        import botocore.exceptions

        try:
            client = s3_client(self.endpoint, timeout=timeout)
            names = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
            if DEFAULT_BUCKET not in names:
                client.create_bucket(Bucket=DEFAULT_BUCKET)
            return True
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            return False


def s3_client(endpoint: str, timeout: float = 10.0):  # noqa: ANN201 - boto3 clients are untyped
    """A boto3 S3 client for the local endpoint."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=endpoint,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
        config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}),
    )
