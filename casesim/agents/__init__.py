"""The agents of a casesim model: cases, case managers, teams and providers."""

from casesim.agents.case import Case
from casesim.agents.case_manager import CaseManager
from casesim.agents.provider import Provider
from casesim.agents.team import Team

__all__ = ["Case", "CaseManager", "Provider", "Team"]
