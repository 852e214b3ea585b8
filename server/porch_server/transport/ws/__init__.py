"""The visitor and agent WebSockets and what they share."""
