"""The population program (being assembled)."""
