"""Certification: run a matrix of candidate architectures and issue a certificate."""
