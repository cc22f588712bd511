"""The event log: the contract of every event kind (which columns it fills and what they mean),
the typed writers the engine and the policies write through, and the columnar log itself.
"""
