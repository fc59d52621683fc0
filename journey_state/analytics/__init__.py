"""Journey analytics for CX managers: metrics computed from the journey store.

`dashboard.compute(engine, model, filters)` gives every metric for one filter set as
plain dicts; `report` renders them as HTML (embedded charts), JSON or CSV; `simulate`
generates demo journeys through the real store.
"""
from journey_state.analytics.filters import AnalyticsFilterError, Filters, parse_filters

__all__ = ["AnalyticsFilterError", "Filters", "parse_filters"]
