"""rabbit-hole: real RabbitMQ nodes and the console flood of nova-api."""
