"""PatchCore engine: plain functions and small classes over numpy arrays. No gRPC, no torch."""
