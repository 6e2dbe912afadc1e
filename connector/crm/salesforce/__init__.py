"""Salesforce through simple-salesforce: `client` (calls, retries, session), `auth`,
`describe`, `read` (SOQL), `write` (sObject Collections, keyed upserts) and `adapter`."""
