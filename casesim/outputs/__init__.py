"""A run's files: running a scenario (whole or in parts), the result folder and its guard, the report.
"""
