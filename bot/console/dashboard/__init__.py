"""The staff analytics dashboard (/staff/dashboard): charts, the map and their exports."""
