"""The engine: the ``mesa.Model`` (simulation), the case process, random streams, the agents and the
case-management policies (models). It reads a scenario and writes the event log.
"""
