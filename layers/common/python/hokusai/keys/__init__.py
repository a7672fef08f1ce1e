"""API keys: format, hashing, the DynamoDB store, the validator chain and the key-management CLI."""
