"""Settings: every default, bound, env var (FAUXPILOT_*), flag and config-file key, in groups.

`settings.py` holds the groups and `Settings` composed of them; `file.py` reads and writes the
config file. Nothing here loads a model or does I/O on import.
"""
