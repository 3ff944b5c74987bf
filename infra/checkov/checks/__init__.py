"""banklake's own checkov checks, loaded with `--external-checks-dir infra/checkov/checks`."""
