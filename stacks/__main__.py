"""Entry point that `pulumi up` runs (Pulumi.yaml: ``main: stacks/``)."""

from helicon.stacks.program import main

main()
