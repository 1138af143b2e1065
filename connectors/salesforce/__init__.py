"""Salesforce destination: finds callers by phone, creates Leads once, logs every call as a Task."""

from connectors.salesforce.connector import SalesforceConnector

__all__ = ["SalesforceConnector"]
