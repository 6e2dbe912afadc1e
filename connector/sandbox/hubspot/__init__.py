"""A local HubSpot portal for the demo and the end-to-end tests: `HubSpotPortal` holds the
records and the knobs (tokens, rate limits, search lag, faults, call log); `HubSpotApp`
serves it over the CRM v3 wire protocol for `connector.sandbox.server.serve_wsgi`;
`contract` holds both to the models hubspot-api-client is generated from."""

from connector.sandbox.hubspot.app import HubSpotApp
from connector.sandbox.hubspot.contract import check_model, check_response, request_problems
from connector.sandbox.hubspot.errors import HubSpotError
from connector.sandbox.hubspot.portal import ApiCall, Exchange, HubSpotPortal
from connector.sandbox.hubspot.properties import DEFAULT_PROPERTIES, Option, PropertySpec
from connector.sandbox.hubspot.seed import PortalSeeder, SeedError

__all__ = [
    "DEFAULT_PROPERTIES",
    "ApiCall",
    "Exchange",
    "HubSpotApp",
    "HubSpotError",
    "HubSpotPortal",
    "Option",
    "PortalSeeder",
    "PropertySpec",
    "SeedError",
    "check_model",
    "check_response",
    "request_problems",
]
