"""Data readers: C-MAPSS, CWRU, simulators, the fleet table and its windows."""
