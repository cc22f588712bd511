"""The agents of a casesim model: cases, case managers, teams and providers."""

from casesim.engine.agents.case import Case
from casesim.engine.agents.case_manager import CaseManager
from casesim.engine.agents.provider import Provider
from casesim.engine.agents.team import Team

__all__ = ["Case", "CaseManager", "Provider", "Team"]
