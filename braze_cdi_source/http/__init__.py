"""Talking to Braze: the client, safe paging, the shared throttle, retries."""
