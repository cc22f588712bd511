"""The scenario: its parameters and their bounds, the YAML reader, the schema and the journey.

This layer imports no simulation library: loading and checking a scenario needs pydantic and PyYAML only.
"""
