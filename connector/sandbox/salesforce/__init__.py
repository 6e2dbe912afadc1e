"""A local Salesforce org for the demo and the end-to-end tests: `SandboxOrg` holds the
records and the knobs (clients, validation rules, faults, call log); `SalesforceApp` serves
it over the REST wire protocol, for `connector.sandbox.server.serve_wsgi`."""

from connector.sandbox.salesforce.app import SalesforceApp
from connector.sandbox.salesforce.errors import ErrorDetail, RecordRejected, SalesforceError
from connector.sandbox.salesforce.org import ApiCall, SandboxOrg
from connector.sandbox.salesforce.schema import DEFAULT_SCHEMA, FieldSchema, ObjectSchema
from connector.sandbox.salesforce.soql import Query, parse_query

__all__ = [
    "DEFAULT_SCHEMA",
    "ApiCall",
    "ErrorDetail",
    "FieldSchema",
    "ObjectSchema",
    "Query",
    "RecordRejected",
    "SalesforceApp",
    "SalesforceError",
    "SandboxOrg",
    "parse_query",
]
