"""Python stubs generated from protos/patchcore/edge/v1 by `make proto`; do not edit."""
