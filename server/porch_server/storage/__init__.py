"""Storage: the schema, its migrations, the queries and the message writer."""
