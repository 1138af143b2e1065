"""GA4 destination: Measurement Protocol events for phone calls, a local fake, and `hub ga4` commands."""

from connectors.ga4.connector import GA4Connector
from connectors.ga4.coverage import CoverageRow, SourceCoverage, attribution_coverage

__all__ = ["CoverageRow", "GA4Connector", "SourceCoverage", "attribution_coverage"]
