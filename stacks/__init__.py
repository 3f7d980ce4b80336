"""The Pulumi program and the per-environment stack configurations (``Pulumi.<stack>.yaml``)."""
