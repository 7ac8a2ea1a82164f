"""havana: real MariaDB with nova's tables and the nova-api log emulation."""
