"""The metadata incident: haproxy metadata proxy, the emulated agent and nova API."""
