"""Small pieces every process of the appliance shares (logging, component states)."""
