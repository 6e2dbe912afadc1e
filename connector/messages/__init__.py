"""Messages: customer emails over SMTP and Slack posts, each delivered once through a ledger."""
