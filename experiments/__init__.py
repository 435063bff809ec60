"""Tuned default settings per (algorithm, environment): one TOML file per algorithm, one table per env."""
