"""HubSpot through hubspot-api-client: `client` (calls, pacing, retries), `rate_limit`,
`describe` (properties), `read` (list pages), `incremental` (what changed, into the store's
mirror), `write` (batch updates), `ledger` (keyed tasks created exactly once) and `adapter`."""
