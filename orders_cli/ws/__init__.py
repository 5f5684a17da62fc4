"""The WebSocket transport: our own wsproto client (wsclient, wsframes) and the
choice between it and trio-websocket (wsopen). Knows nothing of trades or shards."""
