"""Real services started by hand inside a lab host namespace (MariaDB, RabbitMQ, dnsmasq)."""
