"""Transport: HTTP endpoints and the two WebSockets, thin adapters over the layers below."""
