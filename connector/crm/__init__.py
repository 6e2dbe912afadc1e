"""CRM adapters: everything that knows about a CRM's wire protocol lives here."""
