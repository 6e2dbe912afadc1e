"""CRM adapters: one wing per vendor (`salesforce/`, `hubspot/`) behind `protocol.CrmAdapter`.

Transport concerns — auth, retries, rate limits, API-usage accounting — live in the wings;
`connect` picks one for the settings.
"""
